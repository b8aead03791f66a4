"""A real local Flower deployment: a SuperLink and SuperNodes as processes on 127.0.0.1.

``make flower-demo`` runs :func:`demo`: 5 SuperNodes, 3 rounds of SecAgg+ FedAvg on
MNIST with the example app in this directory, one SuperNode killed during round 2, and
``out/flower/results.json`` with per-round accuracy, survivors and crypto cost.

:class:`LocalDeployment` is what the demo and the deployment test share: it starts
every process in its own process group (so a SuperLink's or SuperNode's own child
processes go with it), listens on loopback only, keeps Flower's state in a private
``FLWR_HOME``, disables runtime dependency installation (the nodes use this venv, where
secagg is installed), and stops every process it started by pid, also on failure or
Ctrl-C.

Flower polls: each protocol stage takes a few seconds here whatever the payload.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HOST = "127.0.0.1"
CONNECTION = "secagg-local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


class LocalDeployment:
    """A SuperLink and ``nodes`` SuperNodes on loopback; use as a context manager.

    ``workdir`` holds the logs and the private ``FLWR_HOME``. SuperNode i gets
    ``partition-id=i num-partitions=nodes`` as its node config.
    """

    def __init__(self, nodes: int, workdir: Path) -> None:
        self.nodes = nodes
        self.workdir = workdir.resolve()
        self.home = self.workdir / "flwr-home"
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        bin_dir = Path(sys.executable).parent
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "FLWR_HOME": str(self.home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self._bin = bin_dir

    # -- processes ---------------------------------------------------------------------

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own venv's executables
            args,
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
        log.close()
        self.processes[name] = proc
        return proc

    def start(self) -> LocalDeployment:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.home.exists():
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "{HOST}:{self.port}"\ninsecure = true\n',
            encoding="utf-8",
        )
        self._start(
            "superlink",
            [
                str(self._bin / "flower-superlink"),
                "--insecure",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--disable-runtime-dependency-installation",
            ],
        )
        self._wait_for_port(self.port, 60.0)
        for i in range(self.nodes):
            self._start(
                f"supernode-{i}",
                [
                    str(self._bin / "flower-supernode"),
                    "--insecure",
                    "--superlink",
                    f"{HOST}:{self.port}",
                    "--port",
                    str(free_port()),
                    "--node-config",
                    f"partition-id={i} num-partitions={self.nodes}",
                ],
            )
        return self

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["superlink"].poll() is not None:
                raise RuntimeError(f"the SuperLink exited: see {self.workdir / 'superlink.log'}")
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the SuperLink did not listen on {HOST}:{port} in {timeout} s")

    def run(self, app: Path, run_config: Mapping[str, object]) -> subprocess.Popen[bytes]:
        """``flwr run APP`` against this deployment, streaming its log to run.log."""
        overrides = " ".join(f"{k}={_toml_value(v)}" for k, v in run_config.items())
        return self._start(
            "run",
            [
                str(self._bin / "flwr"),
                "run",
                str(app),
                CONNECTION,
                "--stream",
                "--run-config",
                overrides,
            ],
        )

    def kill_node(self, i: int) -> None:
        """Stop SuperNode ``i`` and its children at once (a node lost mid-round)."""
        self._signal(self.processes[f"supernode-{i}"], signal.SIGTERM)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Stop every process this deployment started (and their process groups)."""
        for proc in self.processes.values():
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.processes.values():
            self._signal(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # Children of a group may outlive their parent briefly: wait for the groups.
        deadline = time.monotonic() + 15.0
        while self.alive_groups() and time.monotonic() < deadline:
            for pgid in self.alive_groups():
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

    def alive_groups(self) -> list[int]:
        """Process groups this deployment started that still have a live process."""
        alive = []
        for proc in self.processes.values():
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
            alive.append(proc.pid)
        return alive

    def __enter__(self) -> LocalDeployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# ------------------------------------------------------------------------------ the demo


def _rounds_done(results: Path) -> int:
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return max((int(r["round"]) for r in data.get("rounds", [])), default=0)


def demo(out: Path, nodes: int = 5, rounds: int = 3, kill_node: int = 4) -> dict[str, object]:
    """The example app on a local deployment, SuperNode ``kill_node`` stopped during
    round 2. Returns the results JSON. Raises RuntimeError if the run fails."""
    out = out.resolve()
    results = out / "results.json"
    results.unlink(missing_ok=True)
    started = time.monotonic()
    with LocalDeployment(nodes, out) as deployment:
        run = deployment.run(
            HERE,
            {
                "num-server-rounds": rounds,
                "results": str(results),
                "min-nodes": nodes - 1,
                "stage-timeout": 30.0,
            },
        )
        killed = False
        deadline = time.monotonic() + 60 * 30
        while run.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the run did not finish in 30 minutes")
            if not killed and _rounds_done(results) >= 1:
                time.sleep(8.0)  # into round 2's protocol stages
                deployment.kill_node(kill_node)
                killed = True
                print(f"killed SuperNode {kill_node} during round 2", flush=True)
            time.sleep(0.5)
        if run.returncode != 0:
            raise RuntimeError(f"flwr run failed ({run.returncode}): see {out / 'run.log'}")
    data: dict[str, object] = json.loads(results.read_text(encoding="utf-8"))
    data["killed_node_partition"] = kill_node
    data["wall_s"] = time.monotonic() - started
    results.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "out" / "flower")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    data = demo(args.out, args.nodes, args.rounds, kill_node=args.nodes - 1)
    rounds = data["rounds"]
    assert isinstance(rounds, list)
    for entry in rounds:
        line = f"round {entry['round']}: accuracy {entry['accuracy']:.3f}"
        if entry["round"]:
            line += f", survivors {entry['survivors']}, dropped {len(entry['dropped'])}"
            line += f", server crypto CPU {entry['server_cpu_s']:.3f} s"
        print(line)
    print(f"results: {args.out.resolve() / 'results.json'} ({data['wall_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
