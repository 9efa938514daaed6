"""Prints the measured query counts of every case: original vs reference.py (or correct.py) (and,
with --inbatch BIN, inbatch's fix) for 10 and 2,500 ids. Not a test; run from tests/ with the test venv:

    ../target/test-venv/bin/python harness/measure.py [--inbatch ../target/debug/inbatch]
"""

import argparse
import pathlib
import shutil
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import harness_runtime as hr  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inbatch", help="also measure `inbatch check --fix --unsafe-fixes` output")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp())
    verifier = hr.Verifier(hr.Harness(tmp))
    head = f"{'case':24} {'q':>2} {'orig@10':>8} {'ref@10':>7} {'orig@2500':>10} {'ref@2500':>9}"
    print(head + ("  fix@10 fix@2500" if args.inbatch else ""))
    for case in hr.all_cases():
        # The hand-written rewrite: reference.py, or correct.py where the original is wrong.
        hand = case.reference if case.reference.is_file() else case.correct
        if not hand.is_file():
            print(f"{case.name:24} {case.queries_per_iteration:>2}  (no fix expected: no_fix.txt)")
            continue
        ref = verifier.counts(case, hr.load_module(hand))
        line = (
            f"{case.name:24} {case.queries_per_iteration:>2} {ref['ten'][0]:>8} {ref['ten'][1]:>7} "
            f"{ref['big'][0]:>10} {ref['big'][1]:>9}"
        )
        if args.inbatch:
            path, before, after = hr.apply_fix(args.inbatch, case, tmp / case.name)
            if after == before:
                line += "  (unchanged)"
            else:
                fix = verifier.counts(case, hr.load_module(path))
                line += f"  {fix['ten'][1]:>6} {fix['big'][1]:>8}"
        print(line)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
