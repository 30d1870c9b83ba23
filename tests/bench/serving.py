#!/usr/bin/env python3
"""Serving benchmark: the `predict` binary against the reference Flask service, one run.

    python3 tests/bench/serving.py --peer PATH_TO_REFERENCE [--peer-python PY] [--seconds 10]

Measures, for both services, on loopback only, with bounded loops:
  cold start    launch -> first 200 from the predict route (polling every 5 ms), 5 runs,
                the model read from the store on first use;
  warm latency  one keep-alive client, 2,000 sequential single-row requests (Python client,
                as the reference's own benchmark does) and wrk with 1 connection (C client);
  throughput    wrk, 8 connections, 2 threads, 10 s, bodies cycling over test-split rows;
  memory        peak RSS of the server (VmHWM) after the load;
and for riskfn alone, live (`--only live` runs just these): warm latency (wrk, 1 connection)
and throughput (wrk, 8 connections) of single records and of 1,000-record lists, each
without and with a challenger (another family's version, `--challenger-family`) in
shadow, in alternating rounds (`--rounds`) with audit records logged as in production;
the release binary's size, zipped and not, and scoring one record
without HTTP (benches/score.rs). The reference's own figures come from running its
bench_serving.py in a copy of its folder. Needs python3 with numpy (the reference's venv
has it) and wrk (apt-get install wrk). Results: target/bench/serving.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HOST = "127.0.0.1"
API_KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREDICT_PATH = "/v1/pipelines/german_credit/predict"


def sh(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def splitmix64(x):
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


class Client:
    def __init__(self, port, headers=AUTH):
        self.port, self.conn, self.headers = port, None, headers

    def post(self, path, body, timeout=10.0):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **self.headers})
            r = self.conn.getresponse()
            data = r.read()
            if r.will_close:
                self.conn.close()
                self.conn = None
            return r.status, data
        except Exception:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_first(port, body, proc, deadline=60.0):
    c, end = Client(port), time.perf_counter() + deadline
    while time.perf_counter() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            st, _ = c.post(PREDICT_PATH, body, timeout=5.0)
            if st == 200:
                c.close()
                return True
        except (ConnectionRefusedError, ConnectionResetError, http.client.HTTPException, OSError):
            pass
        time.sleep(0.005)
    return False


def start(binary, store, port, log="warn"):
    env = dict(os.environ, RISKFN_STORE=store, RISKFN_API_KEYS=f"bench:{API_KEY}", RUST_LOG=log)
    return subprocess.Popen([binary, "--listen", f"{HOST}:{port}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def wrk(port, lua, seconds, conns, threads):
    exe = shutil.which("wrk")
    if not exe:
        return {"skipped": "wrk not installed"}
    p = subprocess.run([exe, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s", "-s", lua,
                        f"http://{HOST}:{port}{PREDICT_PATH}"], capture_output=True, text=True, timeout=seconds + 60)
    out = {"connections": conns, "threads": threads, "seconds": seconds}
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    out["requests_per_s"] = float(m.group(1)) if m else None
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(\w+)", p.stdout, re.M)
        if m:
            v, unit = float(m.group(1)), m.group(2)
            out[f"p{q}_ms"] = v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", p.stdout)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", p.stdout)
    out["socket_errors"] = m.group(1).strip() if m else "none"
    return out


def lua_script(bodies, path):
    lines = ["bodies = {"] + [f"  [==[{b.decode()}]==]," for b in bodies]
    lines += ["}", "counter = 0", 'wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
              f'wrk.headers["Authorization"] = "Bearer {API_KEY}"', "request = function()", "  counter = counter + 1",
              "  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])", "end", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def measure_ours(predict, store, bodies, lua, seconds, requests):
    res = {}
    runs = []
    for _ in range(5):
        port = free_port()
        t0 = time.perf_counter()
        proc = start(predict, store, port)
        try:
            assert wait_first(port, bodies[0], proc), "no prediction"
            runs.append(time.perf_counter() - t0)
        finally:
            stop(proc)
    res["cold_start_s"] = {"runs": runs, "median": float(np.median(runs))}
    port = free_port()
    proc = start(predict, store, port)
    try:
        assert wait_first(port, bodies[0], proc)
        c = Client(port)
        for i in range(50):
            c.post(PREDICT_PATH, bodies[i % len(bodies)])
        lat, errors = [], 0
        for i in range(requests):
            t0 = time.perf_counter()
            st, _ = c.post(PREDICT_PATH, bodies[i % len(bodies)])
            lat.append(time.perf_counter() - t0)
            errors += st != 200
        c.close()
        ms = np.array(lat) * 1000
        res["warm_python_client"] = {"n": requests, "p50_ms": float(np.percentile(ms, 50)),
                                     "p99_ms": float(np.percentile(ms, 99)), "errors": errors}
        res["warm_wrk_1_connection"] = wrk(port, lua, seconds, 1, 1)
        res["throughput_wrk_8_connections"] = wrk(port, lua, seconds, 8, 2)
        res["peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    return res


def riskfn_json(riskfn, *args):
    return json.loads(sh([riskfn, *args, "--json"], capture_output=True, text=True).stdout)


def measure_live(predict, riskfn, store, first_body, single_lua, list_lua, list_len, seconds, rounds):
    """Single records and 1,000-record lists, without and with a challenger in shadow.

    The challenger is another family's version of the same pipeline. Each round starts a
    fresh server per setting (the pointer is read once, then cached), alternating settings so
    the machine's noise falls on both alike; audit records are logged as in production
    (RUST_LOG=info, to /dev/null)."""
    versions = riskfn_json(riskfn, "models", "list", "--pipeline", "german_credit", "--store", store)
    if next(v for v in versions if v.get("champion"))["family"] != "logistic_regression":
        # The challenger won its gate: the serving measures keep logistic regression serving.
        sh([riskfn, "models", "rollback", "--pipeline", "german_credit", "--reason", "the bench serves logistic regression",
            "--store", store], stdout=subprocess.DEVNULL)
        versions = riskfn_json(riskfn, "models", "list", "--pipeline", "german_credit", "--store", store)
    champion = next(v for v in versions if v.get("champion"))
    other = next(v for v in versions if not v.get("champion"))
    out = {"champion": champion["family"], "challenger": other["family"], "records_per_list": list_len,
           "rounds": rounds, "without": [], "with": []}
    for _ in range(rounds):
        for setting in ("without", "with"):
            if setting == "with":
                sh([riskfn, "models", "shadow", "--pipeline", "german_credit", "--version", other["version"],
                    "--store", store], stdout=subprocess.DEVNULL)
            else:
                sh([riskfn, "models", "shadow", "--pipeline", "german_credit", "--clear", "--store", store],
                   stdout=subprocess.DEVNULL)
            port = free_port()
            proc = start(predict, store, port, log="info")
            try:
                assert wait_first(port, first_body, proc)
                wrk(port, single_lua, 2, 8, 2)  # warm-up
                r = {"single_1_connection": wrk(port, single_lua, seconds, 1, 1),
                     "single_8_connections": wrk(port, single_lua, seconds, 8, 2),
                     "list_8_connections": wrk(port, list_lua, seconds, 8, 2)}
                rps = r["list_8_connections"]["requests_per_s"]
                r["list_8_connections"]["rows_per_s"] = rps * list_len if rps else None
                out[setting].append(r)
            finally:
                stop(proc)
    sh([riskfn, "models", "shadow", "--pipeline", "german_credit", "--clear", "--store", store],
       stdout=subprocess.DEVNULL)

    def median(setting, run, key):
        xs = [r[run][key] for r in out[setting] if r[run].get(key) is not None]
        return float(np.median(xs)) if xs else None
    out["summary"] = {
        s: {"p50_ms": median(s, "single_1_connection", "p50_ms"), "p99_ms": median(s, "single_1_connection", "p99_ms"),
            "single_requests_per_s": median(s, "single_8_connections", "requests_per_s"),
            "list_rows_per_s": median(s, "list_8_connections", "rows_per_s"),
            "non_2xx": sum(r[k].get("non_2xx", 0) for r in out[s] for k in r)}
        for s in ("without", "with")}
    return out


def print_live(live):
    w, c = live["summary"]["without"], live["summary"]["with"]
    print(f"\nchampion {live['champion']}, challenger {live['challenger']} in shadow; median of {live['rounds']} rounds")
    print("measure                                   without      with   with/without")
    for name, key, unit in (("warm p50, wrk 1 connection", "p50_ms", "ms"), ("warm p99, wrk 1 connection", "p99_ms", "ms"),
                            ("single records, wrk 8 connections", "single_requests_per_s", "r/s"),
                            (f"{live['records_per_list']}-record lists, wrk 8 connections", "list_rows_per_s", "rows/s")):
        ratio = c[key] / w[key] if w[key] and c[key] else float("nan")
        print(f"{name:<40} {w[key] or float('nan'):>9.4g} {c[key] or float('nan'):>9.4g} {unit:<6} {ratio:.3f}")
    print(f"non-2xx: without {w['non_2xx']}, with {c['non_2xx']}")


def write(target, results):
    results["loadavg_end"] = os.getloadavg()
    os.makedirs(os.path.join(target, "bench"), exist_ok=True)
    with open(os.path.join(target, "bench", "serving.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("results:", os.path.join(target, "bench", "serving.json"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", help="the reference's folder (its bench_serving.py is run on a copy)")
    ap.add_argument("--peer-python", default=sys.executable)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the live measures")
    ap.add_argument("--challenger-family", default="gradient_boosting")
    ap.add_argument("--riskfn", help="the riskfn binary (default: built with the bench-fast profile)")
    ap.add_argument("--only", choices=["live"], help="only the live measures (shadow, lists)")
    a = ap.parse_args()
    os.chdir(REPO)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    predict = os.path.join(target, "release", "predict")
    # Trains the models and moves the pointers only: any build of it will do.
    riskfn = a.riskfn or os.path.join(target, "bench-fast", "riskfn")
    if not os.path.exists(predict):
        sh(["cargo", "build", "--release", "-p", "riskfn-predict", "--bin", "predict"])
    if not os.path.exists(riskfn):
        sh(["cargo", "build", "--profile", "bench-fast", "-p", "riskfn-batch", "--bin", "riskfn"])
    work = tempfile.mkdtemp(prefix="riskfn-serving-")
    store = os.path.join(work, "store")
    report = json.loads(sh([riskfn, "train", "--pipeline", "german_credit", "--families", "logistic_regression",
                            "--store", store, "--json"], capture_output=True, text=True).stdout)
    results = {"model": report["model"]["family"], "version": report["version"], "loadavg_start": os.getloadavg()}

    # Request bodies: the test split's raw rows, as the reference sends them.
    import pyarrow.parquet as pq  # the reference's environment has it
    table = pq.read_table(os.path.join(REPO, "sql/german_credit/data/german_credit.parquet")).to_pylist()
    rows = [{k: v for k, v in r.items() if k != "creditability"} for i, r in enumerate(table, 1)
            if splitmix64(i) % 100 >= 80]
    bodies = [json.dumps(r).encode() for r in rows]
    lua = os.path.join(work, "bodies.lua")
    lua_script(bodies[:200], lua)
    with open(os.path.join(work, "records.json"), "w") as f:
        json.dump(rows, f)

    # A second version, of another family, to run in shadow (the live measures).
    sh([riskfn, "train", "--pipeline", "german_credit", "--families", a.challenger_family, "--store", store,
        "--json"], stdout=subprocess.DEVNULL)
    list_len = 1000
    list_lua = os.path.join(work, "list.lua")
    lua_script([json.dumps([rows[i % len(rows)] for i in range(list_len)]).encode()], list_lua)
    if a.only != "live":
        results["ours"] = measure_ours(predict, store, bodies, lua, a.seconds, a.requests)
    results["live"] = measure_live(predict, riskfn, store, bodies[0], lua, list_lua, list_len, a.seconds, a.rounds)
    print_live(results["live"])
    if a.only == "live":
        write(target, results)
        return
    size = os.path.getsize(predict)
    zpath = os.path.join(work, "predict.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(predict, "bootstrap")
    results["ours"]["binary_mb"] = size / 1e6
    results["ours"]["zipped_mb"] = os.path.getsize(zpath) / 1e6
    model_json = [os.path.join(dp, f) for dp, _, fs in os.walk(store) for f in fs if f == "model.json"][0]
    bench = subprocess.run(["cargo", "bench", "-q", "-p", "riskfn-core", "--bench", "score", "--", model_json,
                            os.path.join(work, "records.json")], capture_output=True, text=True, check=True)
    results["ours"]["score_one_record"] = json.loads(bench.stdout)

    if a.peer:
        peer = os.path.join(work, "peer")
        shutil.copytree(a.peer, peer, ignore=shutil.ignore_patterns(".venv", "results", "models"))
        os.makedirs(os.path.join(peer, "results"), exist_ok=True)
        os.makedirs(os.path.join(peer, "models"), exist_ok=True)
        env = dict(os.environ, PEER_DATA_DIR=os.path.join(os.path.dirname(os.path.abspath(a.peer)), "data"))
        sh([a.peer_python, "pipeline.py", "german_credit"], cwd=peer, env=env, stdout=subprocess.DEVNULL)
        out = os.path.join(work, "peer_serving.json")
        sh([a.peer_python, "bench_serving.py", "--dataset", "german_credit", "--out", out,
            "--wrk-seconds", str(a.seconds), "--requests", str(a.requests)], cwd=peer, env=env, stdout=subprocess.DEVNULL)
        with open(out) as f:
            p = json.load(f)
        flask = "flask_dev_threaded"
        results["reference"] = {
            "cold_start_s": p["cold_start"]["flask_dev"]["median_s"],
            "warm_python_client": {k: p["warm_latency"][flask][k] for k in ("p50_ms", "p99_ms")},
            "throughput_wrk_8_connections": {"requests_per_s": p["throughput_wrk"][flask]["requests_per_s"]},
            "score_one_record_p50_ms": p["in_process"]["p50_ms"],
            "gunicorn_2_workers_requests_per_s": p["throughput_wrk"].get("gunicorn_2_sync_workers", {}).get("requests_per_s"),
        }
    write(target, results)

    o = results["ours"]
    print("\nmeasure                                   riskfn predict      reference     ratio")
    def row(name, ours, ref, unit, better_low=True):
        ratio = (ref / ours if better_low else ours / ref) if (ours and ref) else float("nan")
        print(f"{name:<40} {ours:>12.4g} {unit:<4} {ref if ref is not None else float('nan'):>10.4g} {unit:<4} {ratio:>8.1f}x")
    r = results.get("reference", {})
    row("cold start (median of 5)", o["cold_start_s"]["median"], r.get("cold_start_s"), "s")
    row("warm p50, python client", o["warm_python_client"]["p50_ms"], r.get("warm_python_client", {}).get("p50_ms"), "ms")
    row("warm p99, python client", o["warm_python_client"]["p99_ms"], r.get("warm_python_client", {}).get("p99_ms"), "ms")
    print(f"{'warm p50 / p99, wrk 1 connection':<40} {o['warm_wrk_1_connection'].get('p50_ms', float('nan')):.3f} / "
          f"{o['warm_wrk_1_connection'].get('p99_ms', float('nan')):.3f} ms")
    row("throughput, wrk 8 connections", o["throughput_wrk_8_connections"]["requests_per_s"],
        r.get("throughput_wrk_8_connections", {}).get("requests_per_s"), "r/s", better_low=False)
    row("score one record, no HTTP (p50)", o["score_one_record"]["from_json_bytes_with_reasons"]["p50_us"] / 1000,
        r.get("score_one_record_p50_ms"), "ms")
    print(f"{'binary / zipped':<40} {o['binary_mb']:.1f} MB / {o['zipped_mb']:.1f} MB")
    print(f"{'peak RSS under load':<40} {o['peak_rss_mb']:.1f} MB")
    print(f"errors: python client {o['warm_python_client']['errors']}, wrk non-2xx "
          f"{o['throughput_wrk_8_connections'].get('non_2xx')}, socket {o['throughput_wrk_8_connections'].get('socket_errors')}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
