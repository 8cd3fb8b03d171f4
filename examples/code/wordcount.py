"""Count the words of a text file (or of the files in a folder) with PySpark.

An MRS step's application: `wf` runs it with spark-submit and gives it its inputs and outputs
as arguments.

  --data_url    the text file or folder to read
  --train_url   the folder to write into: counts.tsv (word<TAB>count, most frequent first)
                and metrics.json (words and distinct words, in the manual's metric format)
  --min_count   leave words seen fewer times out of counts.tsv (default 1)

The counts are gathered to the driver and written by it, so the output folder need only be
reachable from where the driver runs (this machine, for `local` and client deploy mode).
"""
import argparse
import json
import os

from pyspark.sql import SparkSession

PUNCTUATION = ".,;:!?\"'()[]{}<>`*_#|-"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data_url", required=True)
    p.add_argument("--train_url", required=True)
    p.add_argument("--min_count", type=int, default=1)
    a, _ = p.parse_known_args()

    spark = SparkSession.builder.appName("wordcount").getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("WARN")
    counts = (
        sc.textFile(a.data_url)
        .flatMap(lambda line: line.lower().split())
        .map(lambda word: (word.strip(PUNCTUATION), 1))
        .filter(lambda kv: kv[0])
        .reduceByKey(lambda x, y: x + y)
        .collect()
    )
    spark.stop()

    total, distinct = sum(n for _, n in counts), len(counts)
    counts = sorted((kv for kv in counts if kv[1] >= a.min_count), key=lambda kv: (-kv[1], kv[0]))
    os.makedirs(a.train_url, exist_ok=True)
    with open(os.path.join(a.train_url, "counts.tsv"), "w") as f:
        for word, n in counts:
            f.write(f"{word}\t{n}\n")
    metrics = [
        {"key": "words", "title": "words", "type": "float", "data": {"value": float(total)}},
        {"key": "distinct", "title": "distinct words", "type": "float", "data": {"value": float(distinct)}},
    ]
    with open(os.path.join(a.train_url, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    top = ", ".join(f"{w} {n}" for w, n in counts[:5])
    print(f"wordcount: {total} words, {distinct} distinct; most frequent: {top}")


if __name__ == "__main__":
    main()
