"""Benchmark: are Japanese requests answered in Japanese? A script, not a test:

    uv run python tests/bench_japanese.py [--model NAME] [--limit N]

Thirty everyday Japanese requests (chat, facts, how-to, advice, writing, the machine), each
sent as a new conversation's first message through the real HTTP API (ui/api.py in process:
the whole team on the embedded model, in a scratch data folder). An answer counts as
Japanese when it has kana in it (Chinese has none) and at least half of its letters are
Japanese (kana or kanji), code and URLs left out. Printed: the share in Japanese, the
answers that were not, and the mean seconds per answer. `--model` runs it on another
embedded model (tests/bench_models.py), so the default can be compared with SmolLM2-135M.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bench_models import MODELS, use_model  # noqa: E402

REQUESTS = [
    "こんにちは！今日はどんな一日になりそう？",
    "日本の首都はどこですか？",
    "富士山の高さを教えてください。",
    "おすすめの朝ごはんを一つ教えて。",
    "雨の日の過ごし方を三つ挙げてください。",
    "「ありがとう」を丁寧に言うとどうなりますか？",
    "カレーの作り方を簡単に説明してください。",
    "眠れないときはどうすればいいですか？",
    "猫と犬、飼うならどちらがいいと思う？",
    "水は何度で沸騰しますか？",
    "一週間は何日ありますか？",
    "Pythonでリストを並べ替える方法を教えて。",
    "上司へのお礼のメールを短く書いてください。",
    "集中力を上げるコツは？",
    "桜が咲くのは何月ごろですか？",
    "自己紹介を一文でお願いします。",
    "東京から大阪まで新幹線でどのくらいかかりますか？",
    "簡単なストレッチを教えてください。",
    "週末の予定を立てるのを手伝って。",
    "日本語の敬語について簡単に説明してください。",
    "ファイルを圧縮するにはどうすればいいですか？",
    "健康的な夕食の例を教えて。",
    "今日はとても疲れました。",
    "英語の勉強を続けるコツは何ですか？",
    "地球から月までの距離は？",
    "お茶とコーヒー、どちらが好きですか？",
    "短い俳句を作ってください。",
    "部屋を片付けるやる気が出ません。",
    "明日のプレゼンが不安です。アドバイスをください。",
    "ありがとう、助かりました！",
]
KANA = re.compile(r"[\u3040-\u30ff]")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\u3005]")
LETTER = re.compile(r"[A-Za-z\u3040-\u30ff\u4e00-\u9fff\u3005]")
NOT_PROSE = re.compile(r"```.*?```|`[^`]*`|https?://\S+", re.DOTALL)


def in_japanese(answer: str) -> bool:
    prose = NOT_PROSE.sub("", answer)
    letters = LETTER.findall(prose)
    return bool(KANA.search(prose)) and len(JAPANESE.findall(prose)) >= 0.5 * max(1, len(letters))


async def ask_each(requests: list[str]) -> list[tuple[str, float]]:
    """Each request as the first message of a fresh data folder's conversation."""
    import httpx

    from ui.api import create_app

    answers = []
    for request in requests:
        home = tempfile.mkdtemp(prefix="society-bench-ja-")
        os.environ["SOCIETY_HOME"] = home
        app = create_app(rate_per_minute=100_000)
        transport = httpx.ASGITransport(app=app)
        started = time.perf_counter()
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            reply = await client.post("/chat", json={"message": request})
            reply.raise_for_status()
        answers.append((reply.json()["answer"] or "", time.perf_counter() - started))
        shutil.rmtree(home, ignore_errors=True)
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, help="this embedded model instead of the model list's")
    parser.add_argument("--limit", type=int, default=0, help="only the first N requests")
    options = parser.parse_args()
    if options.model:
        use_model(options.model)
    os.environ.setdefault("SOCIETY_JUDGE", "0")  # the background judge would only slow the run
    os.environ.setdefault("SOCIETY_LEARN", "0")
    requests = REQUESTS[: options.limit or None]
    answers = asyncio.run(ask_each(requests))
    japanese = [in_japanese(answer) for answer, _ in answers]
    for request, (answer, _), ok in zip(requests, answers, japanese, strict=True):
        if not ok or os.environ.get("BENCH_VERBOSE"):
            print(f"{'ok ' if ok else 'NOT'} {request} -> {' '.join(answer.split())[:100]!r}")
    seconds = sum(s for _, s in answers) / len(answers)
    print(f"model {options.model or 'default'}: {sum(japanese)}/{len(japanese)} answered in Japanese "
          f"({sum(japanese) / len(japanese):.0%}), {seconds:.1f} s per answer")  # fmt: skip


if __name__ == "__main__":
    main()
