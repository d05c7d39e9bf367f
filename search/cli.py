"""``kosearch``: outline, index, ask, batch, eval, serve."""
from __future__ import annotations

import argparse
import json
import os
import sys

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


def _index_error(exc: Exception) -> UserError:
    return UserError(str(exc))


def cmd_index(args: argparse.Namespace) -> int:
    from index.build import build
    from index.encoders import EncoderError
    from index.store import IndexStoreError

    paths = args.paths or ["corpus"]
    progress = sys.stderr.isatty() and not args.quiet
    try:
        report = build(paths, args.index_dir, model=args.model, userdict=args.userdict, progress=progress,
                       log=lambda m: print(m, file=sys.stderr))
    except (IndexStoreError, EncoderError) as exc:
        raise _index_error(exc) from None
    _print_skipped(report.skipped)
    for label, names in (("추가", report.added), ("변경", report.changed), ("삭제", report.removed)):
        for n in names:
            print(f"{label}: {n}", file=sys.stderr)
    print(report.summary())
    return 0


def open_searcher(args: argparse.Namespace):
    from index.store import IndexStoreError
    from search.searcher import Searcher

    try:
        return Searcher.open(args.index_dir, model=getattr(args, "model", None))
    except IndexStoreError as exc:
        raise _index_error(exc) from None


def _filters(args: argparse.Namespace) -> dict:
    return {"year": args.year, "department": args.department, "chapter_kind": args.kind, "file": args.file,
            "group_by": args.group_by}


def format_hits(hits, *, color: bool = False) -> str:
    if not hits:
        return "관련 내용을 찾지 못했습니다."
    out = []
    if all(h.confidence == "low" for h in hits):
        out.append("관련 내용을 찾지 못했습니다. 가장 가까운 구절입니다:\n")
    badge = {"high": "높음", "medium": "보통", "low": "낮음"}
    for h in hits:
        text = h.text
        if color:
            for s, e in reversed(h.highlights):
                text = text[:s] + "\033[1;33m" + text[s:e] + "\033[0m" + text[e:]
        out.append(f"[{h.rank}] 신뢰도 {badge[h.confidence]} · 점수 {h.score:.3f}")
        out.append(f"    출처: {h.citation}")
        out.extend("    " + line for line in text.splitlines())
        out.append("")
    return "\n".join(out).rstrip()


def cmd_ask(args: argparse.Namespace) -> int:
    from index.store import IndexStoreError
    from search.searcher import QueryError, clean_query

    try:
        question, notices = clean_query(args.question)
    except QueryError as exc:
        raise UserError(str(exc)) from None
    searcher = open_searcher(args)
    from index.encoders import EncoderError

    try:
        hits = searcher.search(question, top_k=args.top_k, mode=args.mode, **_filters(args))
    except (QueryError, IndexStoreError, EncoderError) as exc:
        raise UserError(str(exc)) from None
    for n in notices:
        print(f"알림: {n}", file=sys.stderr)
    if args.json:
        print(json.dumps({"question": question, "notices": notices, "results": [h.to_dict() for h in hits]},
                         ensure_ascii=False, indent=2))
    else:
        print(format_hits(hits, color=sys.stdout.isatty()))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from search.batch import BatchError, run_batch

    searcher = open_searcher(args)
    try:
        return run_batch(searcher, args.questions, top_k=args.top_k, fmt=args.format, out=args.output,
                         mode=args.mode, filters=_filters(args))
    except BatchError as exc:
        raise UserError(str(exc)) from None


def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", default=DEFAULT_INDEX, help=f"색인 위치 (기본 {DEFAULT_INDEX})")
    p.add_argument("--top-k", type=int, default=5, help="결과 수 (기본 5)")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid", help="검색 방식 (기본 hybrid)")
    p.add_argument("--year", type=int, action="append", help="연도 필터 (여러 번 가능)")
    p.add_argument("--department", action="append", help="부서 필터, 예: 비전협력과")
    p.add_argument("--kind", action="append", choices=["plan", "results", "new", "계획", "실적", "신규"],
                   help="장 종류: plan(계획) | results(실적) | new(신규·중점)")
    p.add_argument("--file", action="append", help="파일 이름 필터")
    p.add_argument("--group-by", choices=["programme"], help="사업별로 하나씩 묶어 보기")
    p.add_argument("--model", default=None, help="색인에 쓴 모델과 같아야 함 (기본: 색인의 모델)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kosearch", description="구청·구의회 주요업무보고 한국어 검색")
    sub = p.add_subparsers(dest="command", required=True)

    o = sub.add_parser("outline", help="보고서 구조(장·사업·소항목)와 청크 수 출력")
    o.add_argument("paths", nargs="+", metavar="PATH")
    o.add_argument("--json", action="store_true", help="JSON 출력")
    o.set_defaults(func=cmd_outline)

    i = sub.add_parser("index", help="보고서를 색인 (바뀐 파일만 다시 처리)")
    i.add_argument("paths", nargs="*", metavar="PATH", help="파일 또는 폴더 (기본 corpus)")
    i.add_argument("--index-dir", default=DEFAULT_INDEX)
    i.add_argument("--model", default="bundled:multilingual-e5-small",
                   help="sentence-transformers 모델 (허브 ID 또는 로컬 경로, none=BM25 전용)")
    i.add_argument("--userdict", default=None, help="사용자 사전 (기본: 폴더의 userdict.txt)")
    i.add_argument("-q", "--quiet", action="store_true", help="진행 막대 숨김")
    i.set_defaults(func=cmd_index)

    a = sub.add_parser("ask", help="질문 하나 검색")
    a.add_argument("question")
    _add_search_options(a)
    a.add_argument("--json", action="store_true", help="JSON 출력")
    a.set_defaults(func=cmd_ask)

    b = sub.add_parser("batch", help="질문 파일 일괄 검색 (.txt, .csv, .jsonl)")
    b.add_argument("questions", metavar="FILE", help="질문 파일")
    _add_search_options(b)
    b.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    b.add_argument("-o", "--output", default=None, help="출력 파일 (기본 표준출력)")
    b.set_defaults(func=cmd_batch)

    try:
        from search.evaluate import add_eval_arguments, cmd_eval
    except ImportError:
        pass
    else:
        e = sub.add_parser("eval", help="검색 품질 평가 (벤치마크 폴더, 질문 세트)")
        add_eval_arguments(e)
        e.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="웹 앱 실행 (기본 127.0.0.1:7860)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--index-dir", default=DEFAULT_INDEX)
    s.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import app
    except ImportError:
        raise UserError("웹 앱(app.py)이 설치되어 있지 않습니다") from None
    return app.main(["--host", args.host, "--port", str(args.port), "--index-dir", args.index_dir])


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
    except Exception as exc:  # never a traceback for users; KOSEARCH_DEBUG=1 shows it
        if os.environ.get("KOSEARCH_DEBUG"):
            raise
        print(f"오류: 예기치 않은 문제가 발생했습니다 ({type(exc).__name__}: {exc}). "
              "KOSEARCH_DEBUG=1 로 다시 실행하면 자세한 내용이 나옵니다.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
