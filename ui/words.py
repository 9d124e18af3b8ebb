"""The page's own words (step names, footers, the monitoring panel) in the browser's language:
English, or Japanese for a browser that asks for it first ("ja", "ja-JP")."""

from __future__ import annotations

JAPANESE = {
    "tool call": "ツール呼び出し",
    "tool result": "ツールの結果",
    "memories recalled": "思い出した記憶",
    "reasoning": "推論",
    "no model": "モデルなし",
    "first token": "最初のトークンまで",
    "tokens/s": "トークン/秒",
    "prompt": "プロンプト",
    "reading the machine...": "マシンを読み取り中…",
    "now": "現在",
    "Model loaded": "読み込み済みのモデル",
    "Tokens/s": "トークン/秒",
    "Learning": "学習",
    "none": "なし",
    "no GPU": "GPUなし",
    "none yet": "まだなし",
    "no answer yet": "まだ回答なし",
    "no cycle yet": "まだ学習なし",
    "updated {time}, every {every} s": "{time} に更新（{every} 秒ごと）",
    "this login no longer holds; reload the page and log in again": (
        "このログインは無効になりました。ページを再読み込みして、もう一度ログインしてください"
    ),
}


def japanese(language: str | None) -> bool:
    return (language or "").strip().lower().startswith("ja")


def word(text: str, language: str | None) -> str:
    """`text` in `language` where the page has it, else as it is."""
    return JAPANESE.get(text, text) if japanese(language) else text
