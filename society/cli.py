"""The `society` command. Heavy libraries load inside the commands, never at import, so
`society --help` answers at once."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from society.store import Message

app = typer.Typer(
    help="A self-learning local agent society: one never-ending conversation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2
EXIT_FAILED = 1


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one line naming what to fix and return the exit to raise."""
    print(f"society: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _guard(fn):
    """Turn the errors a user can fix into one line each; library logs go to a file."""
    from society.config import ConfigError
    from society.conversation import InputError, TurnFailed
    from society.gate import NoModelAvailable
    from society.paths import log_to_file

    log_to_file()
    try:
        return fn()
    except (ConfigError, InputError) as err:
        raise fail(str(err)) from None
    except (NoModelAvailable, TurnFailed) as err:
        raise fail(str(err), EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise fail("interrupted; what was said so far is saved", 130) from None


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What to ask the team; - reads it from standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    think: Annotated[bool, typer.Option("--think", help="Reasoning mode: think, then answer.")] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Allow tool actions whose policy is 'ask' (nobody is there to ask).")
    ] = False,
) -> None:
    """Run one headless turn of the conversation and print the answer."""
    import asyncio

    text = sys.stdin.read() if task == "-" else task

    from society.conversation import ask
    from society.tools.approval import allow_all, refuse_all

    approver = allow_all if approve else refuse_all
    messages, conversation = _guard(lambda: asyncio.run(ask(text, reasoning=think, approver=approver)))
    turn_id = messages[0].turn_id
    answer = next((m.content for m in reversed(messages) if m.role != "user" and m.is_text), "")
    if as_json:
        print(
            json.dumps(
                {
                    "turn_id": turn_id,
                    "status": conversation.store.turn_status(turn_id),
                    "answer": answer,
                    "messages": [m.to_dict() for m in messages],
                    "fallbacks": conversation.store.fallbacks(turn_id),
                },
                ensure_ascii=False,
            )
        )
    else:
        from rich.console import Console

        console = Console()
        for message in messages[1:]:
            show(console, message)
    if not answer:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def history(
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many messages.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Show the newest messages of the conversation."""
    from society.store import Store

    messages = Store().last_messages(last)
    if as_json:
        print(json.dumps([m.to_dict() for m in messages], ensure_ascii=False))
        return
    from rich.console import Console

    console = Console()
    for message in messages:
        show(console, message)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """The ladder and what is reachable, VRAM, CPU, RAM and the database."""
    from society import status as report

    info = _guard(report.collect)
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        report.render(info)


@app.command()
def chat() -> None:
    """Talk to the society in the terminal: /history, /status, /think, /quit."""
    import asyncio

    from society.chat import loop

    _guard(lambda: asyncio.run(loop()))


def show(console, message: Message) -> None:
    """One message under its role's name; reasoning dimmed; the model that answered; tool
    calls, results and approvals as indented steps."""
    from rich.markup import escape

    if not message.is_text:
        colour = {"tool_call": "magenta", "tool_result": "blue", "approval": "yellow"}.get(message.kind, "white")
        body = message.content if len(message.content) <= 600 else message.content[:600] + " …"
        console.print(f"  [{colour}]{message.role} · {message.kind.replace('_', ' ')}[/] {escape(body)}")
        return
    colour = "bold cyan" if message.role == "user" else "bold green"
    model = f" [dim]({message.model}, {message.latency_ms} ms)[/]" if message.model else ""
    console.print(f"[{colour}]{message.role}[/]{model}")
    if message.reasoning:
        console.print(f"[dim italic]{escape(message.reasoning)}[/]")
    console.print(escape(message.content))


mcp_app = typer.Typer(help="MCP servers the researcher may use (mcp.json in the data folder).", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")


@mcp_app.command("list")
def mcp_list(
    check: Annotated[bool, typer.Option("--check", help="Start each server and list its tools.")] = False,
) -> None:
    """List the configured MCP servers (and, with --check, their tools)."""
    from society.tools.mcp_config import load_servers, mcp_path

    servers = _guard(load_servers)
    if not servers:
        print(f"no MCP servers configured ({mcp_path()}); add one with: society mcp add NAME -- COMMAND ARGS")
        return
    for server in servers.values():
        print(server.describe())
    if check:
        import asyncio

        from society.tools.toolbox import Toolbox

        async def probe() -> None:
            box = Toolbox([], servers, notify=lambda line: print(line, file=sys.stderr))
            tools = await box.list_tools()
            for name, state in box.server_status().items():
                print(f"{name}: {state}")
            for tool in tools:
                about = (tool.get("description") or "").strip().splitlines()
                print(f"  {tool['name']}: {about[0][:100] if about else ''}")
            await box.stop()

        asyncio.run(probe())


@mcp_app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def mcp_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name; its tools are called NAME__TOOL.")],
    url: Annotated[str | None, typer.Option("--url", help="Address of a streamable-HTTP server.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for a stdio server.")] = None,
) -> None:
    """Add or replace a server: `society mcp add time -- uvx mcp-server-time` or `--url URL`."""
    from society.tools.mcp_config import load_servers, parse_server, save_servers

    command = list(ctx.args)
    if bool(url) == bool(command):
        raise fail("give either a command after -- (stdio) or --url (streamable HTTP)")
    raw: dict = {"url": url} if url else {"command": command[0], "args": command[1:]}
    if env:
        pairs = [item.partition("=") for item in env]
        if any(not key or sep != "=" for key, sep, _ in pairs):
            raise fail("--env takes KEY=VALUE")
        raw["env"] = {key: value for key, _, value in pairs}
    servers = _guard(load_servers)
    servers[name] = _guard(lambda: parse_server(name, raw))
    print(f"saved {servers[name].describe()} to {save_servers(servers)}")


@mcp_app.command("remove")
def mcp_remove(name: Annotated[str, typer.Argument(help="The server's name.")]) -> None:
    """Remove a server from mcp.json."""
    from society.tools.mcp_config import load_servers, save_servers

    servers = _guard(load_servers)
    if name not in servers:
        raise fail(f"no MCP server named {name!r}; configured: {', '.join(servers) or 'none'}")
    del servers[name]
    print(f"removed {name} from {save_servers(servers)}")


tools_app = typer.Typer(help="Tool settings: folders, approval policies, sandbox limits (tools.json).")
app.add_typer(tools_app, name="tools")


@tools_app.callback(invoke_without_command=True)
def tools_show(ctx: typer.Context) -> None:
    """Show the workspace, the approval policy of every action and the sandbox."""
    if ctx.invoked_subcommand:
        return
    from society.tools import sandbox
    from society.tools.settings import load_settings, settings_path

    settings = _guard(load_settings)
    print(f"settings:  {settings_path()}")
    print(f"workspace: {settings.workspace}")
    for label, roots in (("readable", settings.read_roots), ("writable", settings.write_roots)):
        if roots:
            print(f"{label}:  {', '.join(map(str, roots))}")
    print(
        f"sandbox:   {sandbox.bwrap() or 'bubblewrap missing: commands are refused'}"
        + (" (unsandboxed allowed)" if settings.allow_unsandboxed else "")
    )
    print("policies:")
    for action, policy in sorted(settings.policies.items()):
        print(f"  {action:<24} {policy}")


@tools_app.command("policy")
def tools_policy(
    action: Annotated[str, typer.Argument(help="An action (see `society tools`) or mcp:SERVER.")],
    policy: Annotated[str, typer.Argument(help="auto, ask or deny.")],
) -> None:
    """Set the approval policy of one action."""
    from society.tools.settings import DEFAULT_POLICIES, POLICIES, load_settings, save_settings

    if policy not in POLICIES:
        raise fail(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if action not in DEFAULT_POLICIES and not action.startswith("mcp:"):
        raise fail(f"unknown action {action!r}; actions: {', '.join(DEFAULT_POLICIES)} or mcp:SERVER")
    settings = _guard(load_settings)
    settings.policies[action] = policy
    print(f"{action}: {policy} (saved to {save_settings(settings)})")


memory_app = typer.Typer(help="Long-term memory: search, list, show, forget, reindex.", no_args_is_help=True)
app.add_typer(memory_app, name="memory")


def _bank():
    from society.memory.bank import MemoryBank

    return MemoryBank(notify=lambda line: print(f"society: {line}", file=sys.stderr))


def _memory_line(item, score: float | None = None) -> str:
    text = " ".join(item.content.split())
    flags = f" [{item.status}]" if item.status != "active" else ""
    scored = f" {score:.4f}" if score is not None else ""
    return f"#{item.id:<6} {item.kind:<11} {item.importance:.2f}{scored}{flags}  {text[:160]}"


@memory_app.command("search")
def memory_search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, vector or keyword.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Recall memories as the team does (without counting it as a recall)."""
    if mode not in ("hybrid", "vector", "keyword"):
        raise fail(f"--mode must be hybrid, vector or keyword, got {mode!r}")
    found = _guard(lambda: _bank().recall(query, limit, mode, touch=False))
    if as_json:
        print(json.dumps([{**r.item.to_dict(), "score": r.score, "via": r.via} for r in found], ensure_ascii=False))
        return
    if not found:
        print("nothing found")
    for r in found:
        print(_memory_line(r.item, r.score) + f"  ({r.via})")


@memory_app.command("list")
def memory_list(
    kind: Annotated[
        str | None, typer.Option("--kind", help="turn, fact, preference, decision, tool_result, note.")
    ] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Also faded, merged and forgotten ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The newest memories."""
    from society.memory.items import KINDS, Items
    from society.store import Store

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    items = _guard(lambda: Items(Store().engine).listing(kind, include_all, limit))
    if as_json:
        print(json.dumps([item.to_dict() for item in items], ensure_ascii=False))
        return
    if not items:
        print("no memories yet")
    for item in items:
        print(_memory_line(item))


@memory_app.command("show")
def memory_show(memory_id: Annotated[int, typer.Argument(help="The memory's number.")]) -> None:
    """One memory with everything known about it."""
    from society.memory.items import Items, MemoryNotFound
    from society.store import Store

    try:
        item = _guard(lambda: Items(Store().engine).get(memory_id))
    except MemoryNotFound as err:
        raise fail(str(err)) from None
    print(json.dumps(item.to_dict(), ensure_ascii=False, indent=2))


@memory_app.command("forget")
def memory_forget(memory_id: Annotated[int, typer.Argument(help="The memory's number.")]) -> None:
    """Stop recalling a memory; it stays in the database (status 'forgotten')."""
    from society.memory.items import MemoryNotFound

    try:
        item = _guard(lambda: _bank().forget(memory_id))
    except MemoryNotFound as err:
        raise fail(str(err)) from None
    print(f"forgot #{item.id}: {' '.join(item.content.split())[:120]}")


@memory_app.command("reindex")
def memory_reindex() -> None:
    """Rebuild the vector index (ChromaDB) from the database, after consolidating."""
    from society.memory.consolidate import consolidate

    def run() -> tuple:
        bank = _bank()
        report = consolidate(bank)
        return report, bank.reindex()

    report, count = _guard(run)
    print(f"consolidated {report.turns} turns; indexed {count} memories in {_bank().index_path}")


prompts_app = typer.Typer(help="The roles' prompts: versions, diffs, rollback, locks.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")


def _book():
    from society.prompt_book import PromptBook

    return PromptBook()


def _prompt_call(fn):
    from society.prompt_book import PromptRefused

    try:
        return _guard(fn)
    except PromptRefused as err:
        raise fail(str(err)) from None


@prompts_app.command("list")
def prompts_list() -> None:
    """Each role's current prompt version, its author and why it changed."""
    from roles import ROLE_NAMES

    book = _book()
    for role in ROLE_NAMES:
        current = book.current(role)
        lock = " [locked]" if book.is_locked(role) else ""
        fitness = f" fitness {current.fitness:.2f}" if current.fitness is not None else ""
        print(f"{role:<18} v{current.version} by {current.author}{lock}{fitness}: {current.reason}")


@prompts_app.command("show")
def prompts_show(
    role: Annotated[str, typer.Argument(help="A role name.")],
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="A version; the current one if left out.")
    ] = None,
) -> None:
    """A role's prompt (current or a given version) and its version history."""
    book = _book()
    shown = _prompt_call(lambda: book.get(role, version) if version else book.current(role))
    for v in book.versions(role):
        marker = "*" if v.version == shown.version else " "
        print(f"{marker} v{v.version} {v.created_at[:19]} by {v.author}, uses {v.uses}: {v.reason}")
    print(f"\n{shown.text}")


@prompts_app.command("diff")
def prompts_diff(
    role: Annotated[str, typer.Argument(help="A role name.")],
    a: Annotated[int, typer.Argument(help="The older version.")],
    b: Annotated[int | None, typer.Argument(help="The newer version; the current one if left out.")] = None,
) -> None:
    """What changed between two versions of a role's prompt."""
    book = _book()
    print(_prompt_call(lambda: book.diff(role, a, b or book.current(role).version)))


@prompts_app.command("rollback")
def prompts_rollback(
    role: Annotated[str, typer.Argument(help="A role name.")],
    version: Annotated[int, typer.Argument(help="The version whose text comes back.")],
) -> None:
    """Make an earlier version's text current again (as a new version)."""
    made = _prompt_call(lambda: _book().rollback(role, version, "user"))
    print(f"{role} prompt is now v{made.version} (the text of v{version}); it applies from the next turn")


@prompts_app.command("lock")
def prompts_lock(
    role: Annotated[str, typer.Argument(help="A role name.")],
    off: Annotated[bool, typer.Option("--off", help="Unlock instead.")] = False,
) -> None:
    """Stop the society from editing a role's prompt (or, with --off, allow it again)."""
    _prompt_call(lambda: _book().lock(role, not off))
    print(f"{role} prompt {'unlocked' if off else 'locked: edits are refused'}")


data_app = typer.Typer(help="Tuning data: list, export in TRL's formats, clean.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(
    kind: Annotated[str | None, typer.Option("--kind", help="sft, pair or label.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Words the examples contain.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The newest tuning examples."""
    from training.datasets import KINDS, Examples

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    found = _guard(lambda: Examples().listing(kind, limit, search))
    if as_json:
        print(json.dumps([e.to_dict() for e in found], ensure_ascii=False))
        return
    print("\n".join(e.line() for e in found) or "no examples yet")


@data_app.command("export")
def data_export(
    path: Annotated[str, typer.Argument(help="A folder; train.jsonl and eval.jsonl are written in it.")],
    format: Annotated[str, typer.Option("--format", "-f", help="sft, dpo or kto.")] = "sft",
    eval_share: Annotated[float, typer.Option("--eval-share", help="Share held out for evaluation.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/eval split.")] = 0,
) -> None:
    """Export the examples as JSONL for TRL's SFT, DPO or KTO trainers."""
    from pathlib import Path

    from training.export import FORMATS, export

    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not 0 <= eval_share < 1:
        raise fail(f"--eval-share must be at least 0 and below 1, got {eval_share}")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise fail(f"{folder} is a file; give a folder to write train.jsonl and eval.jsonl into")
    counts = _guard(lambda: export(format, folder, eval_share, seed))
    print(f"{format}: {counts['train']} train, {counts['eval']} eval rows in {folder}/train.jsonl, eval.jsonl")


@data_app.command("clean")
def data_clean() -> None:
    """Delete (softly) duplicate, empty and broken examples."""
    from training.datasets import Examples

    removed = _guard(lambda: Examples().clean())
    print(", ".join(f"{count} {reason}" for reason, count in removed.items()) + " removed")


@app.command()
def rewards(
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many answers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recent answers' rewards with their parts, and each role's prompt versions with fitness."""
    from dataclasses import asdict

    from roles import ROLE_NAMES
    from society.prompt_book import PromptBook
    from training.reward import Rewards

    recent = _guard(lambda: Rewards().recent(last))
    book = PromptBook()
    versions = {role: [v.to_dict() for v in book.versions(role)] for role in ROLE_NAMES}
    if as_json:
        print(json.dumps({"rewards": [asdict(r) for r in recent], "versions": versions}, ensure_ascii=False))
        return
    print("answer  role            prompt  judge  engagement  explicit  reward")
    for r in recent:
        judge = f"{r.judge_score:.1f}" if r.judge_score is not None else "-"
        reward = f"{r.reward:+.2f}" if r.reward is not None else "-"
        explicit = {1: "good", -1: "bad"}.get(r.explicit or 0, "-")
        print(
            f"#{r.message_id:<6} {r.role:<15} v{r.prompt_version or '-':<6} {judge:<6} {r.level or '-':<11}"
            f" {explicit:<9} {reward}"
        )
    print()
    for role, listed in versions.items():
        for v in listed:
            fitness = f"{v['fitness']:+.2f}" if v["fitness"] is not None else "-"
            print(f"{role:<18} v{v['version']:<3} uses {v['uses']:<4} fitness {fitness:<6} {v['reason']}")


@app.command("eval")
def eval_command(
    suite: Annotated[str | None, typer.Argument(help="A suite YAML file, or 'default' for the shipped one.")] = None,
    compare: Annotated[
        tuple[int, int] | None, typer.Option("--compare", help="Compare two earlier runs: RUN_A RUN_B.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N tasks.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run a judge-scored evaluation suite through the team, or compare two runs."""
    import asyncio
    from pathlib import Path

    from training.evals import EvalError, load_run, run_suite
    from training.evals import compare as compare_runs

    def run():
        if compare:
            return compare_runs(load_run(compare[0]), load_run(compare[1]))
        if not suite:
            raise EvalError("give a suite file (or 'default'), or --compare RUN_A RUN_B")
        path = Path(__file__).resolve().parent.parent / "training" / "evals" / "default.yaml"
        path = path if suite == "default" else Path(suite).expanduser()

        def progress(done: int, total: int, result: dict) -> None:
            exact = "" if result["exact"] is None else (" pass" if result["exact"] else " fail")
            print(f"[{done}/{total}] {result['id']}: score {result['score']}{exact}", file=sys.stderr)

        return asyncio.run(run_suite(path, limit, progress))

    try:
        result = _guard(run)
    except EvalError as err:
        raise fail(str(err)) from None
    if isinstance(result, str):
        print(result)
    elif as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        from training.evals import markdown

        print(markdown(result))
        print(f"kept as run {result['id']} (evals/run-{result['id']}.md in the data folder)")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def learn() -> None:
    """Run one learning cycle now: LoRA adapters on slices of the curated examples, evolution,
    deployment when the child beats its parents and the current model."""
    from training.cycle import learn as run_cycle

    try:
        report = run_cycle()
    except (ValueError, RuntimeError) as err:
        raise fail(str(err)) from None
    evolution = report.evolution
    print(f"trained {', '.join(report.adapters)}; evolved {evolution.child} in run {evolution.run}")
    print(f"  {evolution.why}")
    print(f"deployed {report.deployed}" if report.deployed else "kept the current model")
    print(f"{report.seconds:.0f} s")


@app.command()
def evolve(
    parents: Annotated[list[str], typer.Argument(help="Adapter names (at least 2); see `society lineage`.")],
    deploy_winner: Annotated[bool, typer.Option("--deploy/--no-deploy", help="Deploy a winning child.")] = True,
) -> None:
    """Breed a child of existing adapters with CMA-ES (held-out split of the curated examples)."""
    from training.breeder import evolve as breed_child
    from training.cycle import retention_rows, split
    from training.datasets import Examples
    from training.deploy import adapters_dir, deploy
    from training.export import rows
    from training.settings import load_settings

    settings = load_settings()
    try:
        _, heldout = split(rows(Examples().all_active(), "sft"), 1, settings.seed)
        result = breed_child(parents, heldout, retention_rows(), settings, adapters_dir())
    except (ValueError, RuntimeError) as err:
        raise fail(str(err)) from None
    print(f"{result.child}: {result.why}")
    if result.deployed and deploy_winner:
        print(f"deployed: {deploy(result.child, f'run {result.run}: {result.why}')}")


@app.command("evolve-prompt")
def evolve_prompt(
    role: Annotated[str, typer.Argument(help="The role whose prompt to evolve, e.g. planner.")],
    minibatch: Annotated[int, typer.Option("--minibatch", min=1, help="Eval tasks the child must win on.")] = 4,
    suite: Annotated[str, typer.Option("--suite", help="Eval suite YAML, or 'default'.")] = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Breed a child of the role's two fittest prompt versions; keep it if it wins a minibatch."""
    import asyncio
    from pathlib import Path

    from society.config import load_entries
    from society.gate import ModelGate
    from society.store import Store
    from training.prompt_evolution import evolve_prompt as breed_prompt

    path = Path(__file__).resolve().parent.parent / "training" / "evals" / "default.yaml"
    path = path if suite == "default" else Path(suite).expanduser()
    try:
        child = asyncio.run(breed_prompt(role, ModelGate(load_entries(), Store()), path, minibatch, seed))
    except (ValueError, RuntimeError) as err:
        raise fail(str(err)) from None
    print(f"{role}: {child.why}")


@app.command()
def lineage(
    plot: Annotated[str | None, typer.Option("--plot", help="Also draw the family tree into this PNG file.")] = None,
) -> None:
    """The family tree: adapters with parents, generation and fitness; deployments."""
    from pathlib import Path

    from training.lineage import Lineage

    tree = Lineage()
    for adapter in tree.adapters():
        fitness = "-" if adapter.fitness is None else f"{adapter.fitness:.4f}"
        parents = f" <- {' x '.join(adapter.parents)}" if adapter.parents else ""
        print(f"gen {adapter.generation}  {adapter.name:<28} {adapter.kind:<8} fitness {fitness}{parents}")
    for deployment in tree.deployments():
        print(f"deployed {deployment.adapter or 'base model'} at {deployment.created_at}: {deployment.reason}")
    if plot:
        from training.plot import plot_lineage

        print(f"picture: {plot_lineage(Path(plot), tree)}")


@app.command()
def deploy(
    name: Annotated[str | None, typer.Argument(help="Adapter to deploy.")] = None,
    previous: Annotated[bool, typer.Option("--rollback", help="Return to the previous deployment.")] = False,
) -> None:
    """Deploy an adapter (GGUF LoRA for the embedded model, a new tag for Ollama), or roll back."""
    from training import deploy as deployment

    try:
        if previous:
            back = deployment.rollback()
            print(f"now running {back or 'the base model'}")
        elif name:
            print(f"deployed: {deployment.deploy(name, 'by hand')}")
        else:
            raise fail("name an adapter to deploy, or use --rollback")
    except ValueError as err:
        raise fail(str(err)) from None


@app.command()
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to bind; other than 127.0.0.1 needs a token.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", envvar="SOCIETY_API_TOKEN", help="API token clients must send.")
    ] = None,
) -> None:
    """Serve the chat page (/ui) and the API on one port: REST, WebSocket, OpenAI-compatible
    completions, monitoring, Prometheus metrics and the API docs (/docs)."""
    if host not in LOOPBACK and not token:
        raise fail(f"binding {host} exposes the conversation; set --token (or SOCIETY_API_TOKEN), or use 127.0.0.1")
    import uvicorn

    from society.api import create_app
    from society.paths import log_to_file

    log_to_file()
    served = create_app(token=token, page=True)
    print(f"society: chat on http://{host}:{port}/ui, API docs at /docs", file=sys.stderr)
    uvicorn.run(served, host=host, port=port, log_level="warning")


if __name__ == "__main__":
    app()
