#!/usr/bin/env python3
"""Mutated inputs: each of the reference scripts and their JSON definitions is cut, spliced,
duplicated and sprinkled with odd bytes, then checked with `wf check` (scripts, definitions)
and given to `wf run` as a parameter file. Counts panics, aborts and hangs.

    python3 tests/campaign/mutations.py [MUTANTS] [WF]
"""
import glob, json, os, random, subprocess, sys, tempfile

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
WF = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/release/wf")
ODD = ["\x00", "\xff", "(", ")", "#{", "}", "[", "]", '"', "\\", "wf.", ".as_input()", "9" * 30,
       "-1", "1e309", "NaN", "\u202e", "a" * 5000, "import \"x\" as x;", "fn f(){f()} f();"]

def mutate(text):
    for _ in range(random.randint(1, 4)):
        if not text:
            return random.choice(ODD)
        i = random.randrange(len(text))
        j = min(len(text), i + random.randint(1, 40))
        op = random.randrange(5)
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:i] + random.choice(ODD) + text[i:]
        elif op == 2:
            text = text[:i] + text[i:j] * random.randint(2, 50) + text[j:]
        elif op == 3:
            text = text[:i]
        else:
            k = random.randrange(len(text))
            text = text[:i] + text[k:k + 30] + text[i:]
    return text

def run(args, cwd, timeout=20):
    try:
        p = subprocess.run([WF, *args], cwd=cwd, capture_output=True, timeout=timeout)
        return p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, ""

def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scripts = sorted(glob.glob(os.path.join(root, "scripts/reference/*.rhai")))
    goldens = sorted(glob.glob(os.path.join(root, "tests/golden/graph/*.json")))
    counts = dict(mutants=0, panics=0, hangs=0)
    with tempfile.TemporaryDirectory() as d:
        home = os.path.join(d, "home")
        for n in range(N):
            kind = random.choice(["script", "definition", "params"])
            if kind == "script":
                src = open(random.choice(scripts)).read()
                path = os.path.join(d, "m.rhai")
                open(path, "w", errors="replace").write(mutate(src))
                args = ["--home", home, "check", path]
            elif kind == "definition":
                src = open(random.choice(goldens)).read()
                path = os.path.join(d, "m.json")
                open(path, "w", errors="replace").write(mutate(src))
                args = ["--home", home, "check", path]
            else:
                flow = os.path.join(root, "examples/train_and_branch.rhai")
                path = os.path.join(d, "p.json")
                open(path, "w", errors="replace").write(mutate('{"epochs": 3, "threshold": 0.5}'))
                args = ["--home", home, "run", flow, "--params", path, "--storage", f"output={d}/out"]
            code, err = run(args, d)
            counts["mutants"] += 1
            if code is None:
                counts["hangs"] += 1
                print(f"hang: {kind}\n", file=sys.stderr)
                os.rename(path, os.path.join(root, f"hang-{n}{os.path.splitext(path)[1]}"))
            elif code < 0 or code in (101, 134) or "panicked" in err:
                counts["panics"] += 1
                print(f"panic ({code}): {kind}\n{err[-600:]}", file=sys.stderr)
                os.rename(path, os.path.join(root, f"panic-{n}{os.path.splitext(path)[1]}"))
    print(json.dumps(counts))
    return 0 if counts["panics"] == 0 and counts["hangs"] == 0 else 1

if __name__ == "__main__":
    sys.exit(main())
