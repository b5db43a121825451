#!/usr/bin/env python3
"""Boot a tabvm image under QEMU's own `virt` board and check that it really works.

The reference run for our emulator: the same fw_dynamic.bin, Image, initramfs and bootargs, on
QEMU's RISC-V virt machine. It waits for the shell prompt, types a command whose answers it can
check independently of the image (arithmetic done by the guest shell, the machine name, the ISA
string the kernel parsed from QEMU's device tree), then types `poweroff` and requires QEMU to exit
on its own: that proves the /init signal handling and the kernel's poweroff path.

Usage: smoke-test.py [--manifest public/images/default/manifest.json] [--memory 256] [--smp 1]
                     [--cpu QEMU-CPU] [--timeout SECONDS] [--log FILE]
Exit status 0 on success; on failure the whole console log is printed.
"""

import argparse
import json
import os
import re
import select
import subprocess
import sys
import time

# busybox ash follows each prompt with ESC[6n (report the cursor position) to learn the terminal
# width; a terminal would answer, this driver does not need to.
PROMPT = re.compile(rb"root@tabvm:~# (\x1b\[6n)?$")
# QEMU's default rv64 CPU also offers H, Zba/Zbb/Zbc/Zbs, Zihintpause and Sstc. Turn them off so
# the device tree says rv64imafdc_zicsr_zifencei, what tabvm implements: a pass then shows the image
# needs nothing more. The ID CSRs read 0 as on tabvm (DESIGN.md §3).
TABVM_CPU = (
    "rv64,h=false,zba=false,zbb=false,zbc=false,zbs=false,sstc=false,Zihintpause=false,"
    "mvendorid=0,marchid=0,mimpid=0"
)
COMMAND = b"echo $((6*7)); uname -m; grep -m1 isa /proc/cpuinfo\n"


class Console:
    """QEMU's stdio serial, read without blocking so every wait has a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.log = bytearray()
        os.set_blocking(process.stdout.fileno(), False)

    def read_until(self, pattern: re.Pattern, start: int, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.log, start)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {pattern.pattern!r} within {timeout:.0f} s")
            ready, _, _ = select.select([self.process.stdout], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError("QEMU closed its console before the expected output")
                self.log += chunk

    def drain(self) -> None:
        try:
            while True:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return
                self.log += chunk
        except BlockingIOError:
            return

    def type(self, text: bytes) -> None:
        # Type the way a user does, a few bytes at a time, rather than a whole line at once: the
        # check should not depend on how much pending input the console path can hold.
        for index in range(0, len(text), 8):
            self.process.stdin.write(text[index : index + 8])
            self.process.stdin.flush()
            time.sleep(0.02)


def run(console: Console, command: bytes, position: int) -> tuple[list[str], int]:
    """Type a command at the prompt; return its non-empty output lines and where its prompt ends."""
    console.type(command)
    echoed = console.read_until(re.compile(re.escape(command.rstrip(b"\n")) + rb"\r?\n"), position, 30)
    after = console.read_until(PROMPT, echoed.end(), 30)
    text = console.log[echoed.end() : after.start()].decode(errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()], after.end()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="public/images/default/manifest.json")
    parser.add_argument("--qemu", default="qemu-system-riscv64")
    parser.add_argument("--memory", type=int, default=256, help="guest RAM in MiB")
    parser.add_argument("--smp", type=int, default=1)
    parser.add_argument("--cpu", default=TABVM_CPU, help="QEMU -cpu (default: only what tabvm implements)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds allowed to reach the prompt")
    parser.add_argument("--log", help="write the console log to this file")
    args = parser.parse_args()

    with open(args.manifest, encoding="utf-8") as file:
        manifest = json.load(file)
    base = os.path.dirname(os.path.abspath(args.manifest))
    files = {role: os.path.join(base, entry["path"]) for role, entry in manifest["files"].items()}
    command = [
        args.qemu,
        "-machine", "virt",
        "-cpu", args.cpu,
        "-m", f"{args.memory}M",
        "-smp", str(args.smp),
        "-nographic",
        "-bios", files["bios"],
        "-kernel", files["kernel"],
        "-initrd", files["initrd"],
        "-append", manifest["bootargs"],
    ]
    print("+", " ".join(command), flush=True)

    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = Console(process)
    failure = None
    try:
        prompt = console.read_until(PROMPT, 0, args.timeout)
        boot_seconds = time.monotonic() - started
        print(f"prompt after {boot_seconds:.2f} s (QEMU start to shell prompt, -m {args.memory}M -smp {args.smp})")

        lines, position = run(console, COMMAND, prompt.end())
        checks = {
            "arithmetic answer 42": "42" in lines,
            "uname -m is riscv64": "riscv64" in lines,
            "isa line starts with rv64imafdc": any(re.match(r"^isa\s*:\s*rv64imafdc", line) for line in lines),
        }
        isa = [line for line in lines if line.startswith("isa")]

        # Job control on the console: a background job is listed, and Ctrl-C stops a foreground
        # one long before it would end (that needs the shell to own the console as its
        # controlling terminal, which is what /init's setsid + cttyhack are for).
        lines, position = run(console, b"sleep 300 &\n", position)
        lines, position = run(console, b"jobs\n", position)
        checks["background job listed by `jobs`"] = any(re.match(r"^\[1\]\+?\s+Running\s+sleep 300", line) for line in lines)
        console.type(b"sleep 300\n")
        time.sleep(1.0)
        console.type(b"\x03")
        interrupted = console.read_until(PROMPT, position, 10)
        lines, position = run(console, b"echo status=$?\n", interrupted.end())
        checks["Ctrl-C interrupts a foreground job"] = "status=130" in lines

        for name, passed in checks.items():
            print(f"{'ok  ' if passed else 'FAIL'} {name}")
        if isa:
            print(f"     guest says: {isa[0]}")
        if not all(checks.values()):
            failure = f"unexpected command output: {lines!r}"
        else:
            console.type(b"poweroff\n")
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                failure = "QEMU did not exit within 60 s of `poweroff`"
            else:
                console.drain()
                if process.returncode != 0:
                    failure = f"QEMU exited with status {process.returncode}"
                else:
                    print(f"ok   poweroff: QEMU exited (status 0) {time.monotonic() - started:.2f} s after start")
    except (TimeoutError, EOFError) as error:
        failure = str(error)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        console.drain()
        if args.log:
            with open(args.log, "wb") as file:
                file.write(console.log)

    if failure:
        sys.stdout.write(console.log.decode(errors="replace"))
        print(f"\nFAIL: {failure}")
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
