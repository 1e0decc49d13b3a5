#!/usr/bin/env python3
"""The scripted person of the offline demo.

Talks to the bot through the Telegram simulator's control API exactly as a person would through Telegram:
writes messages, waits for the bot's replies, presses inline buttons, and prints the chat as the person sees
it. Exits non-zero when a reply does not arrive in time or the conversation goes somewhere unexpected.

Usage: person.py CONTROL_URL USER_ID
"""

import json
import sys
import textwrap
import urllib.error
import urllib.request

# Long enough for a reply held up by a crash: in the crash runs a killed graph-runner's message is reclaimed by
# its successor only after the bus claim timeout (BUS_CLAIM_MIN_IDLE_SECS, 30 s). Replies normally take well
# under a second, so a generous limit costs nothing.
WAIT_MS = 90_000


class Chat:
    def __init__(self, control: str, user_id: int):
        self.control = control.rstrip("/")
        self.user = {"id": user_id, "first_name": "Alice", "username": "alice"}
        self.chat_id = user_id
        self.seen = 0

    def _call(self, method: str, path: str, body=None, wait_ms: int = WAIT_MS):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.control + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=wait_ms / 1000 + 5) as response:
            return json.load(response)

    def say(self, text: str):
        print(f"\n  Alice: {text}")
        self._call("POST", "/messages", {"from": self.user, "text": text})

    def press(self, message: dict, button: str):
        texts, data = buttons(message)
        matching = [i for i, text in enumerate(texts) if button in text]
        if not matching:
            fail(f"no {button!r} button on the bot's message (buttons: {texts})")
        print(f"\n  Alice presses [{texts[matching[0]]}]")
        press = {"from": self.user, "chat_id": self.chat_id, "message_id": message["message_id"],
                 "data": data[matching[0]]}
        self._call("POST", "/callbacks", press)

    def replies(self, count: int, wait_ms: int = WAIT_MS) -> list:
        """Waits until `count` new bot messages arrived, prints and returns them."""
        want = self.seen + count
        try:
            path = f"/chats/{self.chat_id}/wait?count={want}&timeout_ms={wait_ms}"
            messages = self._call("GET", path, wait_ms=wait_ms)["messages"]
        except urllib.error.HTTPError as e:
            if e.code != 408:
                raise
            messages = self._call("GET", f"/chats/{self.chat_id}")["messages"]
            for message in messages[self.seen:]:
                show(message)
            fail(f"waited {wait_ms / 1000:.0f} s for {count} bot messages, got {len(messages) - self.seen}")
        if len(messages) < want:
            fail(f"expected {want} bot messages, got {len(messages)}")
        new = messages[self.seen:want]
        for message in new:
            show(message)
        self.seen = want
        return new

    def message(self, message_id: int) -> dict:
        for message in self._call("GET", f"/chats/{self.chat_id}")["messages"]:
            if message["message_id"] == message_id:
                return message
        fail(f"bot message {message_id} vanished")


def buttons(message: dict):
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    flat = [button for row in rows for button in row]
    return [b.get("text") for b in flat], [b.get("callback_data") for b in flat]


def show(message: dict):
    body = textwrap.indent(message["text"], "         ").lstrip()
    print(f"  Bot:   {body}")
    texts, _ = buttons(message)
    if texts:
        print("         " + "  ".join(f"[{t}]" for t in texts))


def fail(reason: str):
    print(f"\ndemo person: {reason}", file=sys.stderr)
    sys.exit(1)


def texts_of(messages: list) -> list:
    return [m["text"] for m in messages]


def watch_build(chat: Chat, wait_ms: int = 240_000) -> list:
    """Prints the build as it happens and answers the questions it asks, until the build settles (🏁).

    The question about the morning push is answered with its "Merge it" button. Returns every message seen."""
    seen = []
    while True:
        message = chat.replies(1, wait_ms=wait_ms)[0]
        seen.append(message)
        labels, _ = buttons(message)
        if labels and "needs your decision" in message["text"]:
            chat.press(message, "Merge it")
        if message["text"].startswith("🏁"):
            return seen


def expect(messages: list, needle: str, count: int = 1):
    found = [t for t in texts_of(messages) if needle in t]
    if len(found) != count:
        fail(f"expected {count} bot message(s) containing {needle!r}, saw {len(found)}")


def main():
    control, user_id = sys.argv[1], int(sys.argv[2])
    budget = sys.argv[3] if len(sys.argv) > 3 else "0.225"
    chat = Chat(control, user_id)
    chat.say("/start")
    chat.replies(1)
    chat.say("I want a weather bot for my family")
    chat.replies(1)
    chat.say("London")
    chat.replies(1)
    chat.say("Yes, every day at 7am")
    spec_and_prompt = chat.replies(2)
    chat.press(spec_and_prompt[-1], "Approve")
    # approved, repository ready, the first wave started
    started = chat.replies(3)
    chat.say(f"/budget {budget}")
    build = watch_build(chat)
    edited = chat.message(spec_and_prompt[-1]["message_id"])
    print(f"\n  (the approval prompt now reads: {edited['text']!r})")
    chat.say("/status")
    chat.replies(1)

    # What the person must have seen: two workers in parallel, one review round with requested changes, a budget
    # warning, a question answered with a button, three merges — and nothing twice.
    everything = started + build
    expect(started, "Started 2 coding worker(s)")
    expect(everything, "💰 The budget of weather-bot is now")
    expect(everything, "asks for changes")
    expect(everything, "% of its LLM budget")
    expect(everything, "needs your decision")
    expect(everything, "🔀", count=3)
    texts = texts_of(everything)
    repeated = sorted({t for t in texts if texts.count(t) > 1})
    if repeated:
        fail(f"bot messages sent twice: {repeated}")
    print("\n  demo person: saw every step of the build once: 2 parallel workers, a review round with changes, "
          "a budget warning, a question answered, 3 merges")


if __name__ == "__main__":
    main()
