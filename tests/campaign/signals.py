#!/usr/bin/env python3
"""Signals at random moments: SIGINT or SIGKILL sent to `wf run` at a random time (the first
milliseconds of a step included), then `wf resume` after a SIGKILL. Counts panics, hangs,
records left `running`, and steps that ran twice at once (each job holds an flock on its
step's lock file while it runs; one that cannot take it was running beside another copy).

    python3 tests/campaign/signals.py [TRIALS] [WF]
"""
import json, os, random, signal, subprocess, sys, tempfile, time

TRIALS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
WF = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/release/wf")

JOB = ("flock -n \\\"$WF_OUTPUT_OUT/../$WF_STEP_NAME.lock\\\" -c 'sleep 0.05' "
       "|| echo $WF_STEP_NAME >> \\\"$WF_OUTPUT_OUT/../double\\\"")

def script(steps):
    lines = ['let storage = wf.data.OutputStorage(#{ name: "out" });', "let steps = [];"]
    lines.append(f"for i in 0..{steps} {{")
    lines.append('  let deps = if i == 0 { [] } else { [steps[i - 1]] };')
    lines.append('  steps.push(wf.steps.JobStep(#{ name: "s" + i, depend_steps: deps,')
    lines.append(f'    algorithm: wf.BaseAlgorithm(#{{ command: "{JOB}" }}),')
    lines.append('    spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),')
    lines.append('    inputs: wf.steps.JobInput("i", wf.data.OBSPath(".")),')
    lines.append('    outputs: wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("s" + i)) }) }));')
    lines.append("}")
    lines.append('wf.Workflow(#{ name: "campaign", desc: "d", steps: steps, storages: [storage] })')
    return "\n".join(lines) + "\n"

def main():
    counts = dict(trials=0, panics=0, hangs=0, left_running=0, doubles=0, bad_exit=0)
    for trial in range(TRIALS):
        d = tempfile.mkdtemp(prefix="wf-campaign-")
        home, root = os.path.join(d, "home"), os.path.join(d, "root")
        path = os.path.join(d, "flow.rhai")
        open(path, "w").write(script(4))
        sig = random.choice([signal.SIGINT, signal.SIGKILL])
        delay = random.choice([0.0, 0.001, 0.003, 0.005, 0.01]) + random.random() * 0.25
        p = subprocess.Popen([WF, "--home", home, "run", path, "--storage", f"out={root}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            counts["hangs"] += 1
            p.kill()
            out, err = p.communicate()
        counts["trials"] += 1
        err = err.decode(errors="replace")
        if "panicked" in err or p.returncode in (134, 101):
            counts["panics"] += 1
            print(f"trial {trial}: panic\n{err}", file=sys.stderr)
        if sig == signal.SIGINT and p.returncode not in (0, 1, 130, -2):
            counts["bad_exit"] += 1
            print(f"trial {trial}: exit {p.returncode} after SIGINT\n{err}", file=sys.stderr)
        listed = subprocess.run([WF, "--home", home, "executions", "--json"],
                                capture_output=True, timeout=20)
        records = json.loads(listed.stdout or b"[]")
        if records and sig == signal.SIGKILL and records[0]["status"] == "running":
            r = subprocess.run([WF, "--home", home, "resume", records[0]["execution_id"], "--json"],
                               capture_output=True, timeout=60)
            if b"panicked" in r.stderr:
                counts["panics"] += 1
            records = json.loads(subprocess.run([WF, "--home", home, "executions", "--json"],
                                                capture_output=True, timeout=20).stdout or b"[]")
        if records and records[0]["status"] == "running":
            counts["left_running"] += 1
            print(f"trial {trial}: left running after {sig.name}", file=sys.stderr)
        double = os.path.join(root, records[0]["execution_id"], "double") if records else ""
        if double and os.path.exists(double):
            counts["doubles"] += 1
            print(f"trial {trial}: a step ran twice at once: {open(double).read()}", file=sys.stderr)
        subprocess.run(["rm", "-rf", d])
    print(json.dumps(counts))
    return 0 if all(counts[k] == 0 for k in counts if k != "trials") else 1

if __name__ == "__main__":
    sys.exit(main())
