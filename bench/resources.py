"""What the other resources cost: a source-items run (the daemon's 15-minute job) and a
categories run against the bundled emulator, first into an empty mirror, then over an unchanged
one, then after stock moves.

    python bench/resources.py                         # 20,000 products, SQLite
    python bench/resources.py --products 50000 --database postgresql

Per run it prints wall seconds, source items or categories per second, CPU seconds and peak RSS
of the ``accs-sync`` process (``wait4``). Source items are read in full every run (they have no
``updated_at``): the unchanged line is what the 15-minute job costs once the mirror is complete.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import requests

from _harness import (
    CLI,
    ChildFailed,
    Emulator,
    child_env,
    interrupt_on_sigterm,
    run_child,
    scratch_database,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql, mariadb or a URL")
    parser.add_argument("--moves", type=int, default=500, help="stock moves before the last run")
    parser.add_argument("--latency", type=float, default=0.0, help="emulator latency, seconds")
    parser.add_argument("--concurrency", type=int, default=4, help="SYNC_CONCURRENCY")
    args = parser.parse_args()
    interrupt_on_sigterm()
    print(
        f"{args.products} products; database {args.database}; latency {args.latency:g} s; "
        f"SYNC_CONCURRENCY={args.concurrency}"
    )
    print(f"{'run':<34} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'CPU s':>7} {'RSS MiB':>8}")
    try:
        run(args.products, args.database, args.moves, args.latency, args.concurrency)
    except KeyboardInterrupt:
        print("\ninterrupted: every child process has been stopped", file=sys.stderr)
        return 130
    except ChildFailed as exc:
        print(f"resources bench: {exc}", file=sys.stderr)
        return 1
    return 0


def run(products: int, database: str, moves: int, latency: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            Emulator(products, work, latency=latency) as emulator,
            scratch_database(database, "r", work) as url,
        ):
            env = child_env(
                {
                    **emulator.exports,
                    "DATABASE_URL": url,
                    "SYNC_TOKEN_CACHE": str(work / "tokens.json"),
                    "SYNC_CONCURRENCY": str(concurrency),
                }
            )
            base = emulator.exports["API_ENDPOINT"].rsplit("/", 1)[0]
            items = _count(emulator.exports, "/V1/inventory/source-items")
            categories = _count(emulator.exports, "/V1/categories/list")
            plan = [
                ("source_items", "first, empty mirror", items),
                ("source_items", "unchanged", items),
                ("categories", "first, empty mirror", categories),
                ("categories", "unchanged (incremental)", categories),
            ]
            for resource, label, rows in plan:
                _measure(env, work, resource, label, rows)
            skus = _skus(emulator.exports, moves)
            for n, sku in enumerate(skus):
                requests.post(
                    f"{base}/_emulator/source-items",
                    json={"sku": sku, "source_code": "eu_warehouse", "quantity": n % 17},
                    timeout=30,
                ).raise_for_status()
            _measure(env, work, "source_items", f"after {len(skus)} stock moves", items)


def _measure(env: dict[str, str], work: Path, resource: str, label: str, rows: int) -> None:
    result = run_child(
        [*CLI, "sync", "--quiet", "--resource", resource, "--log-level", "WARNING"],
        env,
        label=f"accs-sync sync --resource {resource} ({label})",
        cwd=work,
    ).check()
    print(
        f"{resource + ': ' + label:<34} {rows:>8} {result.seconds:>8.1f} "
        f"{rows / result.seconds:>8.0f} {result.cpu_seconds:>7.1f} {result.peak_rss_mib:>8.1f}",
        flush=True,
    )


def _token(exports: dict[str, str]) -> str:
    answer = requests.post(
        exports["IMS_TOKEN_URL"],
        data={
            "grant_type": "client_credentials",
            "client_id": exports["IMS_CLIENT_ID"],
            "client_secret": exports["IMS_CLIENT_SECRET"],
            "scope": "openid,AdobeID,email,profile,additional_info.roles,"
            "additional_info.projectedProductContext,commerce.accs",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _get(exports: dict[str, str], path: str, params: dict[str, str]) -> dict[str, object]:
    answer = requests.get(
        exports["API_ENDPOINT"] + path,
        params=params,
        headers={
            "Authorization": f"Bearer {_token(exports)}",
            "x-api-key": exports["IMS_CLIENT_ID"],
            "x-gw-ims-org-id": exports["IMS_ORG_ID"],
        },
        timeout=60,
    )
    answer.raise_for_status()
    body: dict[str, object] = answer.json()
    return body


def _count(exports: dict[str, str], path: str) -> int:
    body = _get(
        exports, path, {"searchCriteria[pageSize]": "1", "searchCriteria[currentPage]": "1"}
    )
    return int(str(body["total_count"]))


def _skus(exports: dict[str, str], count: int) -> list[str]:
    body = _get(
        exports,
        "/V1/inventory/source-items",
        {
            "searchCriteria[filterGroups][0][filters][0][field]": "source_code",
            "searchCriteria[filterGroups][0][filters][0][value]": "eu_warehouse",
            "searchCriteria[sortOrders][0][field]": "sku",
            "searchCriteria[sortOrders][0][direction]": "ASC",
            "searchCriteria[pageSize]": str(min(count, 300)),
            "searchCriteria[currentPage]": "1",
        },
    )
    items = body["items"]
    assert isinstance(items, list)
    return [str(item["sku"]) for item in items][:count]


if __name__ == "__main__":
    raise SystemExit(main())
