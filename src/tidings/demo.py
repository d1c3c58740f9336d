"""A realistic demo desk, created through the same services as the API (so with events)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.db.schema import users
from tidings.desk import conversations as convos
from tidings.desk import customers, lifecycle, mailboxes, tags
from tidings.desk import users as agents
from tidings.desk.announce import announce
from tidings.desk.enums import Role, Status
from tidings.events.outbox import Tx, transaction

FIRST = [
    "Ann",
    "Ben",
    "Chloe",
    "Dev",
    "Eva",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jon",
    "Kira",
    "Luis",
    "Mei",
    "Nils",
    "Olu",
    "Priya",
]
LAST = [
    "Smith",
    "Okafor",
    "Martin",
    "Rossi",
    "Novak",
    "Tanaka",
    "Silva",
    "Berg",
    "Khan",
    "Dubois",
    "Meyer",
    "Lopez",
]
TOPICS = [
    (
        "Refund for order #{n}",
        "I was charged twice for order #{n}. Could you refund one of the payments?",
    ),
    (
        "Cannot log in",
        "Since this morning the login page says my password is wrong, but I reset it twice.",
    ),
    ("Invoice address change", "Please change the address on invoice {n} to our new office."),
    ("Feature request: dark mode", "Would love a dark mode for the dashboard. Any plans?"),
    ("Shipping delay for #{n}", "My parcel {n} has not moved for a week. Where is it?"),
    (
        "API rate limits",
        "We hit 429s at about 50 requests per second. What are the documented limits?",
    ),
    ("Cancel my subscription", "Please cancel my subscription at the end of this billing period."),
    ("Bug: export is empty", "The CSV export downloads a file with only the header row."),
]
REPLIES = [
    "Thanks for reaching out! I've looked into this and {fix}.",
    "Sorry for the trouble. {fix}, let me know if anything else comes up.",
]
FIXES = [
    "issued the refund",
    "reset your session",
    "updated the address",
    "forwarded this to the team",
    "escalated the shipment",
]


def is_empty(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(users)).scalar_one() == 0


def load(
    db: Database,
    clock: Clock,
    *,
    conversations_total: int = 2000,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> None:
    rnd = random.Random(seed)
    with transaction(db, clock) as tx:
        agents_list = [
            ("Alex", "Admin", Role.ADMIN),
            ("Sam", "Support", Role.USER),
            ("Robin", "Reyes", Role.USER),
            ("Kim", "Kowalski", Role.USER),
            ("Jo", "Jensen", Role.USER),
        ]
        user_ids = [
            agents.create_user(
                tx,
                {"firstName": first, "lastName": last, "email": f"{first.lower()}@tidings.example"},
                role,
            )
            for first, last, role in agents_list
        ]
        mailbox_ids = [
            mailboxes.create_mailbox(tx, {"name": name, "email": email, "userIds": user_ids})
            for name, email in (
                ("Support", "support@tidings.example"),
                ("Billing", "billing@tidings.example"),
                ("Sales", "sales@tidings.example"),
            )
        ]
        customer_ids = []
        for i in range(200):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            body: dict[str, Any] = {
                "firstName": first,
                "lastName": last,
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "company": rnd.choice(["Acme", "Globex", "Initech", None]),
            }
            if i % 3 == 0:
                body["phones"] = [{"value": f"+1555{i:07d}", "type": "mobile"}]
            customer_ids.append(customers.create_customer(tx, body))
    made = 0
    while made < conversations_total:
        with transaction(db, clock) as tx:
            for _ in range(min(100, conversations_total - made)):
                _conversation(tx, rnd, user_ids, mailbox_ids, customer_ids)
                made += 1
        if progress:
            progress(made)


def _conversation(
    tx: Tx,
    rnd: random.Random,
    user_ids: list[int],
    mailbox_ids: list[int],
    customer_ids: list[int],
) -> None:
    n = rnd.randint(1000, 99999)
    subject, text = rnd.choice(TOPICS)
    agent = rnd.choice(user_ids)
    threads: list[dict[str, Any]] = [{"type": "customer", "text": f"<p>{text.format(n=n)}</p>"}]
    for k in range(rnd.randint(0, 5)):
        if k % 2 == 0:
            threads.append(
                {
                    "type": "message",
                    "text": f"<p>{rnd.choice(REPLIES).format(fix=rnd.choice(FIXES))}</p>",
                    "user": agent,
                }
            )
        else:
            threads.append(
                {"type": "customer", "text": "<p>Thanks, one more question about this.</p>"}
            )
    roll = rnd.random()
    status = "closed" if roll < 0.3 else "pending" if roll < 0.5 else "active"
    convo_id: int = convos.create_conversation(
        tx,
        {
            "type": rnd.choice(["email", "email", "email", "phone", "chat"]),
            "mailboxId": rnd.choice(mailbox_ids),
            "subject": subject.format(n=n),
            "customer": {"id": rnd.choice(customer_ids)},
            "threads": threads[::-1],
            "status": status,
            "assignTo": agent if rnd.random() < 0.6 else None,
            # Imported history, spread over the last 90 days, so lists and sorts look real.
            "imported": True,
            "createdAt": (tx.now - timedelta(minutes=rnd.randint(1, 90 * 24 * 60))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        },
    )["id"]
    if rnd.random() < 0.15:
        tags.set_tags(tx, [convo_id], rnd.sample(["vip", "refund", "bug", "billing", "urgent"], 2))
    roll = rnd.random()
    if roll < 0.05:
        row = convos.lock(tx.conn, convo_id)
        announce(tx, [(t, convo_id) for t in convos.change_status(tx, row, Status.SPAM, agent)])
    elif roll < 0.12:
        lifecycle.soft_delete(tx, [convo_id], agent)
