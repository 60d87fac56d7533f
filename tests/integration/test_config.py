#!/usr/bin/env python3
"""tests/integration/test_config.py — stratad's settings from the outside:
--help lists every setting, --help-markdown is the README table, a bad flag
and an unknown config key exit 2 naming the problem, a valid file plus an
overriding flag starts the server with the flag's value in the start-up line
and stops cleanly (exit 0) on SIGTERM.
Env STRATAD is the server binary under test."""
import os
import signal
import subprocess
import time
import sys
import tempfile

STRATAD = os.environ.get("STRATAD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "stratad"))
EXPECTED = ["data", "http", "mqtt", "io-threads", "wal-fsync", "wal-fsync-interval", "wal-segment-bytes",
            "max-body-bytes", "max-line-bytes", "max-series", "max-connections", "quality-field",
            "no-auto-create", "log-level", "ready-file", "max-head-bytes", "block-cache-bytes",
            "query-timeout", "query-max-points", "query-threads"]
failed = 0


def run(*args, timeout=30):
    p = subprocess.run([STRATAD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check(name, cond, detail=""):
    global failed
    if cond:
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def sanitizer_clean(err):
    return "ERROR: AddressSanitizer" not in err and "runtime error:" not in err and "LeakSanitizer" not in err


def main():
    rc, out, err = run("--help")
    missing = [n for n in EXPECTED if f"--{n}" not in out]
    check("help_lists_every_setting", rc == 0 and not missing, f"rc={rc} missing={missing}")

    rc, md, err = run("--help-markdown")
    rows = [l for l in md.splitlines() if l.startswith("| `--")]
    flags_in_md = {r.split("`")[1].split()[0][2:] for r in rows}
    in_help = {l.split()[0][2:] for l in out.splitlines() if l.startswith("  --")}
    check("markdown_matches_help", rc == 0 and md.startswith("| flag | config key | default | description |")
          and flags_in_md <= in_help and set(EXPECTED) <= flags_in_md, f"rc={rc} md={flags_in_md ^ in_help}")

    rc, out, err = run("--version")
    check("version", rc == 0 and out.startswith("stratad "), out + err)

    rc, out, err = run("--wal-fsnyc", "group")
    check("bad_flag_exit_2", rc == 2 and "--wal-fsnyc" in err and "did you mean --wal-fsync" in err, f"rc={rc} {err}")

    rc, out, err = run("--max-body-bytes", "12x")
    check("bad_value_exit_2", rc == 2 and "--max-body-bytes: '12x' is not a size" in err, f"rc={rc} {err}")

    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.toml")
        with open(bad, "w") as f:
            f.write("data = \"%s\"\n\n[http]\nbind = \"127.0.0.1:0\"\nmax-body-bites = \"1MB\"\n" % d)
        rc, out, err = run("--config", bad)
        check("unknown_key_exit_2", rc == 2 and f"{bad}:5: unknown setting 'http.max-body-bites'" in err
              and "did you mean 'http.max-body-bytes'" in err, f"rc={rc} {err}")

        syntax = os.path.join(d, "syntax.toml")
        with open(syntax, "w") as f:
            f.write("[wal]\nfsync \"group\"\n")
        rc, out, err = run("--config", syntax)
        check("syntax_error_exit_2", rc == 2 and f"{syntax}:2: expected '=' after key" in err, f"rc={rc} {err}")

        good = os.path.join(d, "good.toml")
        with open(good, "w") as f:
            f.write("# stratad settings\ndata = \"%s\"\nlog-level = \"info\"\n[http]\nbind = \"127.0.0.1:0\"\n"
                    "[mqtt]\nbind = \"off\"\n[wal]\nfsync = \"interval\"\nfsync-interval = \"250ms\"\n"
                    "[query]\ntimeout = \"30s\"\n" % d)
        ready = os.path.join(d, "ready")
        p = subprocess.Popen([STRATAD, "--config", good, "--wal-fsync", "never", "--max-series=5000",
                              "--ready-file", ready], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while not os.path.exists(ready) and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        rc, err = p.returncode, err.decode("utf-8", "replace")
        check("valid_file_with_override", rc == 0 and "wal-fsync=never" in err and "wal-fsync-interval=250ms" in err
              and "max-series=5000" in err and "query-timeout=30s" in err and "mqtt=off" in err and sanitizer_clean(err),
              f"rc={rc} {err}")

        rc, out, err = run("--config", os.path.join(d, "missing.toml"))
        check("missing_file_exit_2", rc == 2 and "missing.toml" in err, f"rc={rc} {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
