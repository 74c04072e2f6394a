"""How often the channel is right, per labelled corpus: a table like the one in docs/capture.md (not a timing).

    python bench/bench_channels.py [--rules default ga4] [--wrong N] [--labels] [--timing]

Runs every case of the corpora in ``tests/data/channels`` (their origins and licences are in the README there)
as a Chrome page load through ``AttributionMiddleware`` and reads the channel the app sees. "default" is the
library's own rules; "ga4" is ``channel_rules="ga4"``, measured on the corpora that say GA4's answer. For the
landings corpus, the default rules are also compared with GA4's answer itself: "same as GA4" counts the cases
where they agree, the rest differ on purpose (docs/capture.md's table says why).

``--timing`` also times the rules alone on every case's parameters and referring host (no HTTP), in
microseconds per landing, min/median/max over three runs: the first pass over the cases (cold lookup caches)
and the passes after it. The channel is worked out only on a landing, so this is all it adds to one.

To measure another version of the library with the same corpora, put its checkout first on the path:
``PYTHONPATH=/path/to/checkout python bench/bench_channels.py --rules default``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

# The corpora live with the tests; loaded by path, so that PYTHONPATH may put another ``attribution`` first.
_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "channel_corpus.py"
_spec = importlib.util.spec_from_file_location("channel_corpus", _CORPUS)
assert _spec is not None
assert _spec.loader is not None
channel_corpus = importlib.util.module_from_spec(_spec)
sys.modules["channel_corpus"] = channel_corpus  # dataclasses look their module up while the class is built
_spec.loader.exec_module(channel_corpus)
Outcome, corpora, run = channel_corpus.Outcome, channel_corpus.corpora, channel_corpus.run


def _inputs() -> list[tuple[dict[str, str], str | None]]:
    """Every case as the rules see it: the tracked parameters and the external referring host."""
    from urllib.parse import urlsplit

    from attribution.capture.params import TRACKED_PARAMS
    from attribution.capture.rules import tracked_params

    found = []
    for corpus in corpora():
        for case in corpus.cases:
            host = urlsplit(case.referer).hostname if case.referer else None
            own = host is not None and host.endswith(channel_corpus.SITE_DOMAIN)
            found.append((tracked_params(case.query, frozenset(TRACKED_PARAMS)), None if own else host))
    return found


def _clear_caches() -> None:
    try:
        from attribution import domains, source_kinds
    except ImportError:  # a version without them: nothing is cached
        return
    source_kinds._host_kinds.cache_clear()
    source_kinds._is_webmail.cache_clear()
    domains.registrable.cache_clear()


def timing(rule_sets: list[str], runs: int = 3, passes: int = 20) -> None:
    import statistics

    from attribution.capture import channels

    inputs = _inputs()
    rules = getattr(channels, "RULES", {"default": channels.classify})
    print(f"\nthe rules alone, {len(inputs)} landings, us per landing min/median/max over {runs} runs")
    for name in rule_sets:
        classify = rules.get(name)
        if classify is None:
            print(f"  {name}: not in this version")
            continue
        classify(*inputs[0])  # the lists' lazy parts (the Public Suffix List) are loaded once per process
        cold, warm = [], []
        for _ in range(runs):
            _clear_caches()
            started = time.perf_counter()
            for params, host in inputs:
                classify(params, host)
            cold.append((time.perf_counter() - started) / len(inputs) * 1e6)
            started = time.perf_counter()
            for _ in range(passes):
                for params, host in inputs:
                    classify(params, host)
            warm.append((time.perf_counter() - started) / len(inputs) / passes * 1e6)
        for label, figures in (("first pass", cold), ("repeated", warm)):
            low, mid, high = min(figures), statistics.median(figures), max(figures)
            print(f"  {name:8} {label:11} {low:6.2f} / {mid:6.2f} / {high:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="+", default=["default", "ga4"], choices=["default", "ga4"])
    parser.add_argument("--wrong", type=int, default=0, help="list up to N wrong answers per corpus and rule set")
    parser.add_argument("--labels", action="store_true", help="also print the figures per corpus label")
    parser.add_argument("--timing", action="store_true", help="also time the rules alone (no HTTP)")
    args = parser.parse_args()

    import inspect

    import attribution
    from attribution.web.middleware import AttributionMiddleware

    print(f"attribution from {Path(attribution.__file__).parent}")
    if "channel_rules" not in inspect.signature(AttributionMiddleware.__init__).parameters:
        args.rules = [r for r in args.rules if r == "default"]  # a version before the option
    print("| corpus | rules | cases | correct | same as GA4 |\n|---|---|---|---|---|")
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    for corpus in corpora():
        for rules in corpus.rules:
            if rules not in args.rules:
                continue
            outcome = run(corpus, rules)
            outcomes.append(outcome)
            cases = len(corpus.cases)
            same = (
                f"{outcome.agrees_with_ga4 / cases:.2f}"
                if rules == "default" and all(c.ga4 for c in corpus.cases)
                else ""
            )
            print(f"| {corpus.name} | {rules} | {cases} | {outcome.accuracy:.2f} | {same} |", flush=True)
    print(f"\n{sum(len(o.corpus.cases) for o in outcomes)} page loads in {time.perf_counter() - started:.1f} s")
    if args.timing:
        timing(args.rules)
    if args.labels:
        for outcome in outcomes:
            print(f"\n{outcome.corpus.name} ({outcome.rules}):")
            for label, right, count in outcome.by_label():
                print(f"  {label:28} {right:4}/{count:<4} {right / count:.2f}")
    if args.wrong:
        for outcome in outcomes:
            wrong = outcome.wrong
            if not wrong:
                continue
            print(f"\n{outcome.corpus.name} ({outcome.rules}): {len(wrong)} wrong")
            for case, answer in wrong[: args.wrong]:
                landing = f"{case.query[:60]} {case.referer or ''}".strip()
                print(f"  {case.name[:40]:40} {landing[:70]:70} -> {answer}, not {' or '.join(outcome.expected(case))}")


if __name__ == "__main__":
    main()
