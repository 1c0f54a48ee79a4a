"""Generate the example data in data/ that the local services and the notebooks use.

    python scripts/make_data.py            # (re)writes data/items.json, data/users.csv, data/server-log.txt
    python scripts/make_data.py --out DIR  # writes them somewhere else (the tests compare the two)

Everything is made up and comes from one seeded random generator, so every run writes byte-identical
files: the committed files are the output of this script. Standard library only, no network.
"""

import argparse
import csv
import io
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 2024
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

ITEM_COUNT = 237  # not a multiple of 10, so the last page of /items is a short one
USER_COUNT = 1000
LOG_LINE_COUNT = 10_000

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amira",
    "Ana",
    "Bo",
    "Carlos",
    "Chen",
    "Dana",
    "Elif",
    "Emma",
    "Farah",
    "Grace",
    "Hana",
    "Ines",
    "Ivan",
    "Jonas",
    "Kai",
    "Lea",
    "Linus",
    "Maya",
    "Mei",
    "Nia",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Rosa",
    "Sam",
    "Sofia",
    "Tariq",
    "Uma",
    "Yuki",
    "Zoe",
]
LAST_NAMES = [
    "Almeida",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hopper",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lovelace",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
]
CITIES = [
    "Amsterdam",
    "Berlin",
    "Buenos Aires",
    "Cairo",
    "Chicago",
    "Lagos",
    "Lisbon",
    "London",
    "Madrid",
    "Montreal",
    "Mumbai",
    "Nairobi",
    "Oslo",
    "Paris",
    "Seoul",
    "Singapore",
    "Sydney",
    "Tokyo",
    "Toronto",
    "Warsaw",
]
PLANS = ["free", "free", "free", "pro", "pro", "team"]  # repeated entries make "free" the most common

ADJECTIVES = ["Blue", "Compact", "Electric", "Golden", "Heavy", "Quiet", "Rapid", "Smart", "Tiny", "Vintage"]
PRODUCTS = {
    "kitchen": ["Kettle", "Toaster", "Teapot", "Blender", "Grinder"],
    "office": ["Lamp", "Notebook", "Stapler", "Chair", "Monitor"],
    "garden": ["Hose", "Shovel", "Planter", "Lantern", "Bench"],
    "travel": ["Backpack", "Suitcase", "Pillow", "Adapter", "Bottle"],
}

LOG_PATHS = ["/items?page=1", "/items?page=2", "/items?page=3", "/users/42", "/users/7", "/slow", "/stream", "/ws"]


def make_items(rng):
    items = []
    categories = sorted(PRODUCTS)
    for item_id in range(1, ITEM_COUNT + 1):
        category = rng.choice(categories)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(PRODUCTS[category])}"
        items.append(
            {
                "id": item_id,
                "name": name,
                "category": category,
                "price": round(rng.uniform(2, 250), 2),
                "in_stock": rng.random() < 0.8,
            }
        )
    return items


def make_users(rng):
    first_signup = date(2020, 1, 1)
    rows = []
    for user_id in range(1, USER_COUNT + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        rows.append(
            {
                "id": user_id,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{user_id}@example.com",  # the id keeps emails unique
                "city": rng.choice(CITIES),
                "signup_date": (first_signup + timedelta(days=rng.randrange(5 * 365))).isoformat(),
                "plan": rng.choice(PLANS),
            }
        )
    return rows


def make_log_lines(rng):
    """A web server's log: mostly INFO, some WARNING (slow requests), a few ERROR lines."""
    moment = datetime(2024, 5, 1, 8, 0, 0)
    lines = []
    for _ in range(LOG_LINE_COUNT):
        moment += timedelta(milliseconds=rng.randrange(50, 3000))
        stamp = moment.isoformat(sep=" ", timespec="milliseconds")
        path, roll = rng.choice(LOG_PATHS), rng.random()
        if roll < 0.04:
            message = f"ERROR   GET {path} -> 500 in {rng.randrange(5, 80)} ms: database is locked"
        elif roll < 0.14:
            message = f"WARNING GET {path} -> 200 in {rng.randrange(1000, 5000)} ms: slow response"
        else:
            status = rng.choice([200, 200, 200, 200, 304, 404])
            message = f"INFO    GET {path} -> {status} in {rng.randrange(2, 400)} ms"
        lines.append(f"{stamp} {message}\n")
    return lines


def items_json(items):
    """A JSON list with one item per line: valid JSON that still reads well in an editor."""
    return "[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n"


def users_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_all(out_dir):
    rng = random.Random(SEED)  # one generator, used in a fixed order: same seed, same files
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "items.json": items_json(make_items(rng)),
        "users.csv": users_csv(make_users(rng)),
        "server-log.txt": "".join(make_log_lines(rng)),
    }
    for name, text in files.items():
        (out_dir / name).write_text(text, encoding="utf-8", newline="\n")
    return sorted(files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder to write to (default: data/)")
    args = parser.parse_args()
    for name in write_all(args.out):
        print(args.out / name)


if __name__ == "__main__":
    main()
