"""Minimal TAP output (meson's 'tap' protocol counts each check as a test)."""
import time
import traceback


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, fn):
        self.n += 1
        start = time.time()
        try:
            fn()
            print(f"ok {self.n} - {name} # {time.time() - start:.1f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed += 1
            first, *rest = str(e).splitlines() or [""]
            print(f"not ok {self.n} - {name}: {first}", flush=True)
            for line in rest:  # TAP: every further line a comment
                print(f"# {line}", flush=True)
            for line in traceback.format_exc().splitlines():
                print(f"# {line}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


def wait_until(cond, timeout=5.0, step=0.2):
    """Polls cond() until it holds or `timeout` seconds pass; returns its last value.
    For state the daemon reaches asynchronously (telemetry is refreshed by its control
    thread); the caller still asserts on it."""
    deadline = time.time() + timeout
    while True:
        value = cond()
        if value or time.time() >= deadline:
            return value
        time.sleep(step)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)
