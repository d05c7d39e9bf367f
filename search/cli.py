"""``kosearch``: outline, index, ask, batch, eval, serve."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_INDEX = ".kosearch/index"


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def _print_skipped(skipped, stream=sys.stderr) -> None:
    for s in skipped:
        print(f"건너뜀: {s.file}: {s.reason}", file=stream)


def cmd_outline(args: argparse.Namespace) -> int:
    from index.documents import load_documents
    from index.outline import outline_json, outline_text

    docs, skipped = load_documents(args.paths)
    if args.json:
        print(json.dumps(outline_json(docs, skipped), ensure_ascii=False, indent=2))
    else:
        for d in docs:
            print(outline_text(d))
            print()
        _print_skipped(skipped)
        print(f"요약: 문서 {len(docs)}개, 청크 {sum(len(d.chunks) for d in docs)}개, 건너뜀 {len(skipped)}개",
              file=sys.stderr)
    if not docs:
        if not skipped:
            print("오류: 읽을 보고서 파일이 없습니다 (지원 형식: .txt .hwp .hwpx .pdf .docx)", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kosearch", description="구청·구의회 주요업무보고 한국어 검색")
    sub = p.add_subparsers(dest="command", required=True)

    o = sub.add_parser("outline", help="보고서 구조(장·사업·소항목)와 청크 수 출력")
    o.add_argument("paths", nargs="+", metavar="PATH")
    o.add_argument("--json", action="store_true", help="JSON 출력")
    o.set_defaults(func=cmd_outline)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"오류: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("중단됨", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
