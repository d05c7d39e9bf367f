"""``kosearch``: outline, index, ask, batch, eval, serve (the console script; beside app.py).

Command-line glue only: parse flags, call ``index`` / ``search`` (through ``SearchService``) or
``app``, print with ``search.present``. Heavy modules are imported inside the command that needs
them, so ``kosearch index`` with nothing changed starts no model and no kiwi.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from index import config
from index.config import DEFAULT_INDEX_DIR, DEFAULT_MODEL, DEFAULT_PRECISION
from index.textnorm import display_name, terminal_safe


class UserError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def _print_skipped(skipped, stream=sys.stderr) -> None:
    for s in skipped:
        print(f"건너뜀: {display_name(s.file)}: {terminal_safe(s.reason)}", file=stream)


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


def cmd_index(args: argparse.Namespace) -> int:
    from index.build import build, remove
    from index.encoders import EncoderError
    from index.store import IndexStoreError

    progress = sys.stderr.isatty() and not args.quiet
    try:
        args.workers, args.device = config.validate_workers(args.workers), config.validate_device(args.device)
        config.device_precision(args.device, args.precision)   # before any model or index is touched
        if args.remove:
            if args.paths:
                raise UserError("--remove 와 색인할 PATH 는 함께 쓸 수 없습니다 (따로 실행하세요)")
            report = remove(args.remove, args.index_dir)
        else:
            # no PATH: every folder the index remembers (corpus for a new index)
            report = build(args.paths, args.index_dir, model=args.model, userdict=args.userdict, progress=progress,
                           precision=args.precision, workers=args.workers, device=args.device,
                           log=lambda m: print(m, file=sys.stderr),
                           backend=args.backend or ("milvus" if args.uri else None))
    except (IndexStoreError, EncoderError, config.SettingError) as exc:
        raise UserError(str(exc)) from None
    _print_skipped(report.skipped)
    for label, names in (("추가", report.added), ("변경", report.changed), ("삭제", report.removed)):
        for n in names:
            why = report.why.get(n)
            print(f"{label}: {display_name(n)}" + (f" ({why})" if why else ""), file=sys.stderr)
    if report.excluded:
        print(f"제외 유지: {', '.join(display_name(n) for n in report.excluded[:10])}"
              + (f" 외 {len(report.excluded) - 10}개" if len(report.excluded) > 10 else "")
              + " (--remove 로 뺀 파일; 다시 넣으려면 그 파일을 직접 지정해 색인)", file=sys.stderr)
    if len(report.roots) > 1 or args.remove:
        print("색인 폴더: " + (", ".join(display_name(r) for r in report.roots) or "(없음)"), file=sys.stderr)
    print(report.summary())
    return 0


def open_service(args: argparse.Namespace):
    """A ``SearchService`` over the index named by ``--index-dir``; one line when it cannot open."""
    from index.store import IndexStoreError
    from search.searcher import Searcher
    from search.service import SearchService

    try:
        return SearchService(Searcher.open(args.index_dir, model=getattr(args, "model", None)))
    except IndexStoreError as exc:
        raise UserError(str(exc)) from None


def _filters(args: argparse.Namespace) -> dict:
    return {"year": args.year, "department": args.department, "chapter_kind": args.kind, "file": args.file,
            "group_by": args.group_by}


def cmd_ask(args: argparse.Namespace) -> int:
    from search import present
    from search.query import clean_query
    from search.service import USER_ERRORS

    try:
        query = clean_query(args.question)  # before opening the index: an empty question fails fast
        service = open_service(args)
        res = service.ask(query, top_k=args.top_k, mode=args.mode, **_filters(args))
    except USER_ERRORS as exc:
        raise UserError(str(exc)) from None
    for n in res.notices:
        print(f"알림: {n}", file=sys.stderr)
    if args.json:
        print(present.to_json(res.to_dict(), indent=2))
    else:
        print(terminal_safe("\n".join(present.answer_lines(res.answer, res.answer_message))))
        print()
        print(present.to_text(res.results, color=sys.stdout.isatty()))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from search.batch import BatchError, run_batch

    service = open_service(args)
    try:
        return run_batch(service, args.questions, top_k=args.top_k, fmt=args.format, out=args.output,
                         mode=args.mode, filters=_filters(args))
    except BatchError as exc:
        raise UserError(str(exc)) from None


def _top_k(value: str) -> int:
    try:
        return config.validate_top_k(value)
    except config.SettingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _year(value: str) -> int:
    try:
        return config.validate_year(value)
    except config.SettingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_backend_options(p: argparse.ArgumentParser, index: bool = False) -> None:
    """Where the index data lives: local files (default) or Milvus (issue 19)."""
    if index:
        p.add_argument("--backend", choices=("local", "milvus"), default=None,
                       help="새 색인의 저장 방식 (기본 local; --uri 를 주면 milvus)")
    p.add_argument("--uri", default=None, help="Milvus 주소: 파일 경로(Milvus Lite) 또는 http://호스트:19530 "
                   "(또는 환경 변수 KOSEARCH_BACKEND_URI)")
    p.add_argument("--token", default=None, help="Milvus 토큰 user:password (환경 변수 KOSEARCH_BACKEND_TOKEN 권장)")
    p.add_argument("--collection", default=None, help="Milvus 컬렉션 이름 (기본: 색인 폴더로 만든 이름)")


def apply_backend_options(args: argparse.Namespace) -> None:
    """--uri/--token/--collection reach the storage backend as KOSEARCH_BACKEND_* (this process and the app)."""
    for opt, env in (("uri", "KOSEARCH_BACKEND_URI"), ("token", "KOSEARCH_BACKEND_TOKEN"),
                     ("collection", "KOSEARCH_BACKEND_COLLECTION")):
        if getattr(args, opt, None):
            os.environ[env] = getattr(args, opt)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    _add_backend_options(p)
    p.add_argument("--index-dir", default=DEFAULT_INDEX_DIR, help=f"색인 위치 (기본 {DEFAULT_INDEX_DIR})")
    p.add_argument("--top-k", type=_top_k, default=None,
                   help=f"결과 수 {config.TOP_K_MIN}-{config.TOP_K_MAX} (기본: 색인에 기록된 값, 없으면 {config.DEFAULT_TOP_K})")
    p.add_argument("--mode", choices=config.MODES, default=None,
                   help=f"검색 방식 (기본: 색인에 기록된 값, 없으면 {config.DEFAULT_MODE})")
    p.add_argument("--year", type=_year, action="append", help="연도 필터 (여러 번 가능)")
    p.add_argument("--department", action="append", help="부서 필터, 예: 비전협력과")
    p.add_argument("--kind", action="append", choices=config.CLI_KINDS,
                   help="장 종류: plan(계획) | results(실적) | new(신규·중점)")
    p.add_argument("--file", action="append", help="파일 이름 필터")
    p.add_argument("--group-by", choices=config.GROUP_BY, help="사업별로 하나씩 묶어 보기")
    p.add_argument("--model", default=None, help="색인에 쓴 모델과 같아야 함 (기본: 색인의 모델)")


# ---- kosearch eval (search/eval does the work) -----------------------------------------------

def add_eval_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``kosearch eval``."""
    parser.add_argument("dir", metavar="DIR", nargs="?",
                        help="benchmark directory with corpus.jsonl and qa.jsonl (AutoRAG format)")
    parser.add_argument("--mode", choices=(*config.MODES, "all"), default="all",
                        help="search mode to evaluate (default: all)")
    parser.add_argument("--model", metavar="M", default=None,
                        help=f"embedding model for the benchmark index (default: {DEFAULT_MODEL})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-o", "--output", metavar="REPORT.json", default=None,
                        help="also write the JSON report to this file")
    parser.add_argument("--qa", metavar="PATH", default=None,
                        help="our quote-based question set (e.g. tests/data/corpus_qa.jsonl)")
    parser.add_argument("--index-dir", metavar="DIR", default=None,
                        help="for --qa: the built corpus index to search")
    parser.add_argument("--fusion", choices=config.FUSIONS, default=None,
                        help="hybrid: how scores are combined (default blend)")
    parser.add_argument("--dense-weight", metavar="W", type=float, default=None,
                        help="hybrid: weight of the dense score (default 0.10)")
    parser.add_argument("--phrase-weight", metavar="W", type=float, default=None,
                        help="hybrid: weight of the phrase (term-pair BM25) score (default 0.15)")
    parser.add_argument("--compare-milvus", metavar="URI", default=None,
                        help="also run the benchmark through the Milvus backend at URI (a file path: Milvus Lite) "
                             "and print both side by side")
    parser.add_argument("--compare-index-dir", metavar="DIR", default=None,
                        help="for --qa: a second index of the same corpus (e.g. on Milvus); compare rankings and "
                             "confidence labels side by side")
    return parser


def search_options(args: argparse.Namespace) -> dict[str, Any]:
    """Fusion settings given on the command line (for ablations); the defaults otherwise."""
    from search.eval import EvalError

    try:
        s = config.resolve({"fusion": getattr(args, "fusion", None), "dense_weight": getattr(args, "dense_weight", None),
                            "phrase_weight": getattr(args, "phrase_weight", None)})
    except config.SettingError as exc:
        raise EvalError(str(exc)) from None
    return {k: s[k] for k in ("fusion", "dense_weight", "phrase_weight")}


def _run(args: argparse.Namespace) -> tuple[dict, str]:
    from index.models import ModelRegistry
    from search.eval import (MODES, EvalError, evaluate_benchmark, evaluate_corpus_qa, format_benchmark, format_corpus_qa,
                             load_benchmark, load_corpus_qa, published_figures)
    from search.searcher import Searcher

    models = ModelRegistry()  # one kiwi and one encoder for the benchmark and the question set
    modes = list(MODES) if args.mode == "all" else [args.mode]
    if not args.dir and not args.qa:
        raise EvalError("give a benchmark DIR and/or --qa PATH")
    if args.qa and not args.index_dir:
        raise EvalError("--qa needs --index-dir (a corpus index built with 'kosearch index')")
    options = search_options(args)
    report: dict[str, Any] = {"fusion": options}
    w, v = options["dense_weight"], options["phrase_weight"]
    texts = [f"hybrid = {options['fusion']} of BM25 {1 - w - v:.2f} + phrase {v:.2f} + dense {w:.2f}"]
    if args.qa:
        # check the question file before spending time on a benchmark
        load_corpus_qa(args.qa)
        if not Path(args.index_dir).is_dir():
            raise EvalError(f"{args.index_dir}: index directory not found")
    if args.dir:
        passages, queries = load_benchmark(args.dir)
        if getattr(args, "compare_milvus", None):
            from search.eval.compare import benchmark_both, format_benchmark_both

            both = benchmark_both(passages, queries, modes, uri=args.compare_milvus, model=args.model,
                                  options=options, models=models)
            bench = both["local"]
            report["backends"] = {k: ({kk: vv for kk, vv in v.items() if kk != "per_query"} if isinstance(v, dict) else v)
                                  for k, v in both.items()}
        else:
            bench = evaluate_benchmark(passages, queries, modes, model=args.model, options=options, models=models)
        report.update(bench)
        texts.append(format_benchmark(bench, published_figures(args.dir), Path(args.dir).name))
        if "backends" in report:
            texts.append(format_benchmark_both(both, Path(args.dir).name))
        report["published"] = [{"model": n, **v} for n, v in published_figures(args.dir)]
    if args.qa:
        searcher = Searcher.open(Path(args.index_dir), model=args.model, models=models)
        qa = evaluate_corpus_qa(searcher, args.qa, modes, options=options)
        report["corpus_qa"] = qa
        texts.append(format_corpus_qa(qa))
        if getattr(args, "compare_index_dir", None):
            from search.eval.compare import compare_searchers, format_compare

            other = Searcher.open(Path(args.compare_index_dir), model=args.model, models=models)
            cmp = compare_searchers(searcher, other, [it["query"] for it in load_corpus_qa(args.qa)], modes,
                                    options=options)
            report["compare"] = {"index_dir": args.compare_index_dir, "backend": other.manifest.backend, **cmp}
            texts.append(format_compare(cmp, (searcher.manifest.backend, other.manifest.backend)))
        from search.eval.answers import evaluate_answers, format_answers
        from search.service import SearchService

        answers = evaluate_answers(SearchService(searcher), args.qa)
        if answers["all"]["answerable"] or answers["all"]["unanswerable"]:
            report["answers"] = {k: v for k, v in answers.items() if k != "per_query"}
            texts.append(format_answers(answers))
    return report, "\n\n".join(texts)


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``kosearch eval``; returns the exit code (2 on bad input, with one line on stderr)."""
    from search.eval import EvalError

    def body() -> int:
        try:
            report, text = _run(args)
            if args.output:
                try:
                    Path(args.output).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n",
                                                 encoding="utf-8")
                except OSError as exc:
                    raise EvalError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
        except EvalError as exc:
            raise UserError(str(exc)) from None
        _print_report(args, report, text)
        return 0

    return guarded(body, "kosearch eval: 오류")


def _print_report(args: argparse.Namespace, report: dict, text: str) -> None:
    if args.json:
        slim = {k: v for k, v in report.items() if k != "per_query"}
        if "corpus_qa" in slim:
            slim["corpus_qa"] = {**slim["corpus_qa"], "modes": {
                m: {k: v for k, v in r.items() if k != "per_query"} for m, r in slim["corpus_qa"]["modes"].items()}}
        print(json.dumps(slim, ensure_ascii=False, indent=2), flush=True)
    else:
        print(text, flush=True)




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kosearch", description="구청·구의회 주요업무보고 한국어 검색")
    sub = p.add_subparsers(dest="command", required=True)

    o = sub.add_parser("outline", help="보고서 구조(장·사업·소항목)와 청크 수 출력")
    o.add_argument("paths", nargs="+", metavar="PATH")
    o.add_argument("--json", action="store_true", help="JSON 출력")
    o.set_defaults(func=cmd_outline)

    i = sub.add_parser("index", help="보고서를 색인 (바뀐 파일만 다시 처리, 다른 색인 폴더는 그대로)")
    i.add_argument("paths", nargs="*", metavar="PATH",
                   help="파일 또는 폴더: 그 아래만 추가·갱신하고 사라진 파일을 뺌 (기본: 색인이 기억하는 모든 폴더, 새 색인이면 corpus)")
    i.add_argument("--remove", action="append", metavar="FILE|FOLDER",
                   help="색인에서 명시적으로 뺌 (여러 번 가능; 디스크에 남은 파일은 다음 색인에도 다시 넣지 않음)")
    i.add_argument("--index-dir", default=DEFAULT_INDEX_DIR)
    i.add_argument("--model", default=DEFAULT_MODEL,
                   help="sentence-transformers 모델 (허브 ID 또는 로컬 경로, none=BM25 전용)")
    i.add_argument("--userdict", default=None, help="사용자 사전 (기본: 폴더의 userdict.txt)")
    i.add_argument("--precision", choices=["int8", "fp32"], default=None,
                   help=f"기본 모델의 임베딩 정밀도 (기본: {DEFAULT_PRECISION}; fp32는 torch, 느리지만 원본 그대로)")
    i.add_argument("--workers", default=None, metavar="N",
                   help=f"파일 읽기·분석을 나눠 할 프로세스 수 (기본 {config.DEFAULT_WORKERS}; 색인 결과는 같음)")
    i.add_argument("--device", default=None, metavar="cpu|cuda",
                   help=f"임베딩 장치 (기본 {config.DEFAULT_DEVICE}; cuda는 fp32 torch로 GPU에서 계산)")
    i.add_argument("-q", "--quiet", action="store_true", help="진행 막대 숨김")
    _add_backend_options(i, index=True)
    i.set_defaults(func=cmd_index)

    a = sub.add_parser("ask", help="질문 하나 검색")
    a.add_argument("question")
    _add_search_options(a)
    a.add_argument("--json", action="store_true", help="JSON 출력")
    a.set_defaults(func=cmd_ask)

    b = sub.add_parser("batch", help="질문 파일 일괄 검색 (.txt, .csv, .jsonl)")
    b.add_argument("questions", metavar="FILE", help="질문 파일")
    _add_search_options(b)
    b.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                   help="jsonl (기본) 또는 csv (UTF-8 BOM, 한글 머리글, 수식 방지 — 엑셀에서 바로 열림)")
    b.add_argument("-o", "--output", default=None, help="출력 파일 (기본 표준출력)")
    b.set_defaults(func=cmd_batch)

    e = sub.add_parser("eval", help="검색 품질 평가 (벤치마크 폴더, 질문 세트)")
    add_eval_arguments(e)
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="웹 앱 실행 (기본 127.0.0.1:7860)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--index-dir", default=DEFAULT_INDEX_DIR)
    s.add_argument("--corpus", action="append", metavar="FOLDER",
                   help="보고서 폴더: 색인 상태가 바뀐 파일을 이 폴더 안에서만 찾음 (여러 번 가능, 기본 corpus)")
    _add_backend_options(s)
    s.set_defaults(func=cmd_serve)
    return p


def cmd_serve(args: argparse.Namespace) -> int:
    import app

    return app.main(["--host", args.host, "--port", str(args.port), "--index-dir", args.index_dir]
                    + [a for c in args.corpus or () for a in ("--corpus", c)])


def guarded(body, prefix: str = "오류") -> int:
    """Run a command: a user error is one line (exit 2), never a traceback (KOSEARCH_DEBUG=1 shows it)."""
    try:
        return body()
    except UserError as exc:
        print(f"{prefix}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("중단됨", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:
        if os.environ.get("KOSEARCH_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(f"{prefix}: 예기치 않은 문제가 발생했습니다 ({type(exc).__name__}: {msg}). "
              "KOSEARCH_DEBUG=1 로 다시 실행하면 자세한 내용이 나옵니다.", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_backend_options(args)
    return guarded(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
