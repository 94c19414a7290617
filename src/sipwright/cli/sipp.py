"""``sipwright sipp [SIPp options] remote_host[:port]``: run SIPp scenarios.

The command line is SIPp's (:mod:`sipwright.cli.sipp_options`); scenarios are SIPp
XML (built-in with ``-sn``, files with ``-sf``).  Bad options give one line and exit
1 as SIPp does; a bad scenario gives ``file:line: message`` and exit 255.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

from sipwright.cli.sipp_load import (
    LoadObserver,
    LoadOptions,
    WorkerPipe,
    load_options,
    run_info,
)
from sipwright.cli.sipp_options import SippOptions, SippUsageError, parse_sipp_args
from sipwright.cli.sipp_workers import run_workers
from sipwright.load.scheduler import RateSettings
from sipwright.net.loop import run as run_loop
from sipwright.scenario.sippxml import load_builtin, parse_scenario
from sipwright.scenario.sippxml.call_context import RenderError
from sipwright.scenario.sippxml.control import ControlError, RunControl
from sipwright.scenario.sippxml.engine import (
    EXIT_FATAL,
    EngineSettings,
    SharedTransport,
    SippEngine,
)
from sipwright.scenario.sippxml.injection import InjectionError, InjectionRegistry, base_name
from sipwright.scenario.sippxml.keywords import KeywordError
from sipwright.scenario.sippxml.model import Scenario, ScenarioError
from sipwright.scenario.sippxml.program import Program, RunSettings
from sipwright.scenario.sippxml.twin import TwinError

__all__ = ["main"]

# Options read but not acted on yet: said once, never silently ignored.
_NOT_YET = (
    "master", "slave",
)  # fmt: skip
_USAGE = 1  # SIPp exits 1 on a bad command line


def main(argv: list[str]) -> int:
    try:
        options = parse_sipp_args(argv)
        load = load_options(options)
        inf = options.get("inf")
        paths = [str(p) for p in inf] if isinstance(inf, list) else []
        injection = InjectionRegistry.load(paths) if paths else None
        for name, field_text in options.pairs("infindex"):
            # -infindex file field: index an -inf file on one field for <lookup>.
            if injection is None or name not in injection:
                raise InjectionError(name, None, "-infindex names a file that is not an -inf")
            if not field_text.isdigit():
                raise SippUsageError(f"-infindex {name} {field_text}: the field is a number")
            injection.index(name, int(field_text))
        phases: list[tuple[Program, EngineSettings]] = []
        scenarios = _scenarios(options)
        if load.workers > 1 and load.worker is None:
            _check_workers(scenarios)
        for number, scenario in enumerate(scenarios, 1):
            settings = _engine_settings(
                options, scenario, last=number == len(scenarios), worker=load.worker
            )
            program = Program.build(
                scenario,
                _run_settings(options, settings.transport),
                generic=dict(options.pairs("key")),
                injection_files=[base_name(p) for p in paths],
            )
            phases.append((program, settings))
    except SippUsageError as error:
        sys.stderr.write(f"sipwright sipp: {error}\n")
        return _USAGE
    except (ScenarioError, KeywordError, InjectionError) as error:
        sys.stderr.write(f"sipwright sipp: {error}\n")
        return EXIT_FATAL
    for name in _NOT_YET:
        if name in options.values:
            sys.stderr.write(f"sipwright sipp: warning: -{name} is not supported yet\n")
    if options.flag("bg"):
        return _background(argv)
    control = RunControl()
    try:
        if load.workers > 1 and load.worker is None:
            program, settings = phases[-1]
            name = program.scenario.name or program.scenario.file
            server = not program.scenario.is_uac
            return run_loop(run_workers(argv, load, settings, name, server=server))
        return run_loop(
            _run_chain(phases, injection, control=control, options=options, load=load, argv=argv)
        )
    except (OSError, RenderError, TwinError, ControlError) as error:
        sys.stderr.write(f"sipwright sipp: {error}\n")
        return EXIT_FATAL
    except KeyboardInterrupt:
        return 1


async def _run_chain(
    phases: list[tuple[Program, EngineSettings]],
    injection: InjectionRegistry | None,
    *,
    control: RunControl,
    options: SippOptions,
    load: LoadOptions,
    argv: list[str],
) -> int:
    """Run the scenarios one after the other over one transport layer; a phase that
    does not end with 0 ends the chain with its exit code.  The last phase is the
    load: live display, Prometheus and reports (or, in a worker, the pipe)."""
    shared = SharedTransport(phases[0][1].client_ssl if phases else None)
    pipe = WorkerPipe(load.worker_fd) if load.worker_fd is not None else None
    observer = LoadObserver(load, argv) if pipe is None else None
    if load.worker is None:
        await control.open_socket(options.text("i") or "127.0.0.1", options.integer("cp"))
        if not options.flag("nostdin"):
            control.attach_keyboard()
    try:
        code = 0
        for number, (program, settings) in enumerate(phases, 1):
            engine = SippEngine(program, settings, injection=injection, shared=shared)
            control.engine = engine
            if number == len(phases):
                engine.metrics_start = load.worker_start
                if pipe is not None:
                    engine.on_sample = pipe.on_sample
                    if load.worker_stat:
                        engine.stat_sink = pipe.stat_sink()
                elif observer is not None:
                    rate = settings.rate
                    observer.start(target_rate=rate.rate / rate.period, total_calls=rate.max_calls)
                    engine.on_sample = observer.on_sample
            started = time.monotonic()
            code = await engine.run()
            if number == len(phases) and observer is not None:
                info = run_info(
                    settings,
                    program.scenario.name or program.scenario.file,
                    workers=1,
                    interrupted=engine.interrupted,
                    duration_s=time.monotonic() - started,
                )
                for line in observer.finish(engine.metrics, info):
                    print(line, flush=True)
            name = program.scenario.name
            print(
                f"{name}: {engine.processed} calls, {engine.processed - engine.failed} "
                f"successful, {engine.failed} failed (exit {code})",
                flush=True,
            )
            if engine.first_error:
                print(f"{name}: first failure: {engine.first_error}", flush=True)
            if code != 0:
                return code
        return code
    finally:
        control.close()
        if pipe is not None:
            pipe.close()
        await shared.close()


def _scenarios(options: SippOptions) -> list[Scenario]:
    files = options.scenario_files
    if files:
        return [parse_scenario(Path(name)) for name in files]
    return [_builtin(options)]


def _builtin(options: SippOptions) -> Scenario:
    name = str(options.get("sn", "uac" if options.remote else "uas"))
    try:
        return load_builtin(name)
    except ScenarioError as error:
        raise SippUsageError(f"-sn {name}: {error.message}") from None


def _background(argv: list[str]) -> int:
    """-bg: the same run, detached from the terminal, as SIPp does (it prints the
    PID to stop it with and returns at once)."""
    args = [word for word in argv if word != "-bg"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sipwright", "sipp", *args, "-nostdin", "--no-live"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    print(f"Background mode - PID=[{process.pid}]", flush=True)
    return 0


def _check_workers(scenarios: list[Scenario]) -> None:
    if len(scenarios) > 1:
        raise SippUsageError("--workers runs one scenario (not a chain of -sf files)")
    if scenarios[0].threepcc != "none":
        raise SippUsageError("--workers cannot run a 3PCC scenario")


def _share(total: int | None, worker: tuple[int, int] | None) -> int | None:
    """Worker k's part of ``total`` (k < total % n get one more)."""
    if total is None or worker is None:
        return total
    index, count = worker
    return total // count + (1 if index < total % count else 0)


def _engine_settings(
    options: SippOptions,
    scenario: Scenario,
    *,
    last: bool = True,
    worker: tuple[int, int] | None = None,
) -> EngineSettings:
    """Settings of one scenario; in a chain, the ones before the last run one call
    (a registration, say) and only the last takes -m, -r, -trace_stat ..."""
    remote = options.remote_host_port
    if scenario.is_uac and remote is None:
        raise SippUsageError("a client scenario needs a remote host (sipp ... host[:port])")
    transport = options.transport
    if transport == "sctp":
        raise SippUsageError("-t c1/cn (SCTP) is not supported")
    client_ssl, server_ssl = _tls(options, transport, scenario)
    twin = _twin(options, scenario)
    count = worker[1] if worker else 1
    stat_file = None
    if options.flag("trace_stat") and last:
        stat_file = Path(options.text("stf") or f"{_file_stem(scenario)}_{os.getpid()}_.csv")
    # SIPp's default names: <scenario>_<pid>_messages.log / _errors.log / _screen.log;
    # a worker adds .w<k> to a name given on the command line.
    stem = f"{_file_stem(scenario)}_{os.getpid()}"
    message_file = error_file = screen_file = None
    if options.flag("trace_msg"):
        message_file = _per_worker(options.text("message_file"), worker)
        message_file = message_file or Path(f"{stem}_messages.log")
    if options.flag("trace_err"):
        error_file = _per_worker(options.text("error_file"), worker)
        error_file = error_file or Path(f"{stem}_errors.log")
    if options.flag("trace_screen") and last:
        screen_file = Path(options.text("screen_file") or f"{stem}_screen.log")
    rtt_file = Path(f"{stem}_rtt.csv") if options.flag("trace_rtt") and last else None
    log_file = None
    if options.flag("trace_logs"):
        log_file = _per_worker(options.text("log_file"), worker) or Path(f"{stem}_logs.log")
    return EngineSettings(
        transport=transport,
        local_ip=options.text("i") or "127.0.0.1",
        local_port=_local_port(options.integer("p"), scenario, worker),
        remote=(remote[0], remote[1] or 5060) if remote is not None else None,
        rate=RateSettings(
            rate=(options.number("r") or 10.0) / count,
            period=options.number("rp") or 1.0,
            # A server's workers take calls as the kernel spreads them: -m is counted
            # over all of them by the coordinator.
            max_calls=(
                (_share(options.integer("m"), worker) if scenario.is_uac else None)
                if worker is not None
                else options.integer("m")
            )
            if last
            else 1,
            max_concurrent=-(-limit // count) if (limit := options.integer("l")) else None,
            rate_increase=(options.number("rate_increase") or 0.0) / count,
            # SIPp: -rate_interval defaults to the value of -fd.
            rate_interval=options.number("rate_interval") or options.number("fd") or 60.0,
            rate_max=(rate_max / count) if (rate_max := options.number("rate_max")) else None,
            users=_share(options.integer("users"), worker),
        ),
        rate_quit=not options.flag("no_rate_quit"),
        service=options.text("s") or "service",
        call_id_format=options.text("cid_str") or "%u-%p@%s",
        base_cseq=options.integer("base_cseq") or 1,
        global_timeout=options.number("timeout"),
        timeout_error=options.flag("timeout_error"),
        auto_answer=options.flag("aa"),
        auth_username=options.text("au"),
        auth_password=options.text("ap") or "password",
        media_ip=options.text("mi"),
        media_port=options.integer("mp") or 6000,
        stat_file=stat_file,
        stat_period=options.number("fd") or 60.0,
        message_file=message_file,
        client_ssl=client_ssl,
        server_ssl=server_ssl,
        twin=twin,
        send_to=_host_port(options.text("rsa"), "-rsa"),
        rtp_echo=options.flag("rtp_echo"),
        rtt_file=rtt_file,
        log_file=log_file,
        worker_index=worker[0] if worker else 0,
        worker_count=count,
        error_file=error_file,
        screen_file=screen_file,
        stats_json=Path(json_path) if (json_path := options.text("-stats-json")) and last else None,
    )


def _per_worker(name: str | None, worker: tuple[int, int] | None) -> Path | None:
    if name is None:
        return None
    path = Path(name)
    return path.with_name(f"{path.stem}.w{worker[0]}{path.suffix}") if worker else path


def _local_port(port: int | None, scenario: Scenario, worker: tuple[int, int] | None) -> int:
    """-p; a client's workers take -p, -p+1, ... (a server's share one port)."""
    if port is None:
        return 0 if scenario.is_uac else 5060
    if worker is not None and scenario.is_uac:
        return port + worker[0]
    return port


def _file_stem(scenario: Scenario) -> str:
    """The scenario part of SIPp's default file names: ``uac`` for ``-sn uac``,
    ``register`` for ``-sf path/register.xml``."""
    name = scenario.file
    if name.startswith("<builtin:"):
        return name.removeprefix("<builtin:").rstrip(">")
    return Path(name).stem


def _host_port(
    text: str | None, option: str, default_port: int | None = 5060
) -> tuple[str, int] | None:
    """host[:port] or [v6]:port; without a port, ``default_port`` (None: required)."""
    if text is None:
        return None
    default = "" if default_port is None else str(default_port)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else default
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, default
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        expected = "host[:port]" if default_port is not None else "host:port"
        raise SippUsageError(f"{option} {text}: expected {expected}")
    return host, int(port)


def _twin(options: SippOptions, scenario: Scenario) -> tuple[str, int] | None:
    """-3pcc host:port: where the B side controller listens (and the A side
    controller connects) for 3PCC commands."""
    text = options.text("3pcc")
    if scenario.threepcc == "none":
        return None
    if not text:
        raise SippUsageError(f"{scenario.file}: a 3PCC scenario needs -3pcc host:port")
    return _host_port(text, "-3pcc", default_port=None)


def _tls(
    options: SippOptions, transport: str, scenario: Scenario
) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """Contexts for -t l1/ln/wss: the peer's certificate is verified unless
    -tls_insecure (-tls_ca adds trusted CAs); -tls_cert/-tls_key are ours."""
    if transport not in ("tls", "wss"):
        return None, None
    cert, key = options.text("tls_cert"), options.text("tls_key")
    try:
        client = ssl.create_default_context(cafile=options.text("tls_ca"))
        if options.flag("tls_insecure"):
            client.check_hostname = False
            client.verify_mode = ssl.CERT_NONE
        server = None
        if cert:
            client.load_cert_chain(cert, key)
            server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise SippUsageError(f"cannot load the TLS files: {error}") from None
    if not scenario.is_uac and server is None:
        raise SippUsageError(f"-t {options.text('t')} as a server needs -tls_cert and -tls_key")
    return client, server


def _run_settings(options: SippOptions, transport: str) -> RunSettings:
    max_retrans = options.integer("max_retrans")
    return RunSettings(
        default_pause=options.number("d") or 0.0,
        recv_timeout=options.number("recv_timeout"),
        max_invite_retrans=options.integer("max_invite_retrans") or max_retrans or 5,
        max_non_invite_retrans=options.integer("max_non_invite_retrans") or max_retrans or 7,
        t2=options.number("T2") or 4.0,
        reliable=transport != "udp",
        no_retrans=options.flag("nr"),
        auto_answer=options.flag("aa"),
        default_behaviors=not options.flag("nd"),
    )
