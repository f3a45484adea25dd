"""`minewatch eval`: scan labelled corpus folders and score the hits against their truth.

A folder holds LABELS.tsv (columns `file`, `label`) and, for mining files,
`<file>.truth.json` with a `mining_flows` list (client_ip, client_port,
server_ip, server_port, optional variant/dialect/workers/client_methods...).
See docs/eval.md for the measures, the naming map and the JSON structure.

Flows are keyed by their 4-tuple (client ip, client port, server ip, server
port); a hit matches a truth flow in either orientation. The same flow listed
in several files (corpus overlap warnings) is one expected flow: it counts as
found when any of its files gave a hit for it.
"""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from .capture.magic import SNIFF_BYTES, sniff_compression, sniff_format
from .errors import MinewatchError
from .pipeline import EngineOptions, default_threads, warm_up
from .encrypted import SIGNALS, decide
from .scan_command import load_detectors, scan_capture

EVAL_SCHEMA_VERSION = 1

MINING = "mining"
MINING_TLS = "mining_tls"
NEGATIVE_LABELS = ("benign", "crypto_p2p")
LABELS = (MINING, MINING_TLS) + NEGATIVE_LABELS
POSITIVE_LABELS = (MINING, MINING_TLS)

TLS_RECALL_MIN = 95.0       # percent of mining_tls flows that must be found (issue 6)
CLEARTEXT = "cleartext"     # a protocol parser read the mining messages themselves

# whole-capture flows: a flow is one TCP connection, as in the truth files
EVAL_OPTIONS = EngineOptions(max_flows=1 << 18, idle_timeout_s=0.0, active_timeout_s=0.0,
                             threads=default_threads())

STATUS_OK = "ok"
STATUS_SKIPPED = "skipped"          # listed, but not a capture (README.txt...)
STATUS_INCOMPLETE = "incomplete"    # the reader stopped early (damaged, unsupported)


class EvalError(MinewatchError):
    """The evaluation input is unusable (no LABELS.tsv, unreadable file, bad truth)."""


# --- truth -------------------------------------------------------------------------------

def flow_key(ip_a, port_a, ip_b, port_b):
    return (str(ip_a), int(port_a), str(ip_b), int(port_b))


def reverse(key):
    return (key[2], key[3], key[0], key[1])


def key_text(key):
    return f"{key[0]}:{key[1]} -> {key[2]}:{key[3]}"


def expected_variants(truth_flow):
    """The variant names of ours that agree with a truth flow, or None (not compared).

    Truth naming (tools/mining_truth.py) -> ours:
      stratum-v1 whose dialect mentions zcash   -> zcash
      getwork (HTTP) that called getblocktemplate -> getblocktemplate
      getwork (HTTP) that called getwork          -> getwork (both called: either)
      anything else                               -> the same name
    """
    variant = truth_flow.get("variant")
    if not variant:
        return None
    dialect = (truth_flow.get("dialect") or "").lower()
    if variant == "stratum-v1" and "zcash" in dialect:
        return ("zcash",)
    if variant == "getwork":
        methods = set(truth_flow.get("client_methods") or {})
        if not methods:
            methods = set(truth_flow.get("evidence_methods") or ())
        names = tuple(m for m in ("getblocktemplate", "getwork") if m in methods)
        return names or ("getwork",)
    return (variant,)


def expected_workers(truth_flow):
    """The truth's worker names as ours (HTTP 'basic:<user>' -> '<user>'), or None."""
    if "workers" not in truth_flow or truth_flow["workers"] is None:
        return None
    out = []
    for w in truth_flow["workers"]:
        w = str(w)
        out.append(w[len("basic:"):] if w.startswith("basic:") else w)
    return tuple(out)


def variant_agrees(truth_flow, hit):
    want = expected_variants(truth_flow)
    return None if want is None else hit.get("variant") in want


def worker_agrees(truth_flow, hit):
    want = expected_workers(truth_flow)
    if want is None:
        return None
    worker = hit.get("worker")
    if not want:
        return not worker
    return worker in want


# --- inputs ------------------------------------------------------------------------------

@dataclass
class LabelledFile:
    folder: str             # the folder's name, for display
    name: str               # file name as listed in LABELS.tsv
    path: Path
    label: str
    truth: list = field(default_factory=list)   # mining_flows of its truth file


def read_labels(folder: Path):
    """[(file, label)] of folder/LABELS.tsv, in file order; raises EvalError."""
    labels_path = folder / "LABELS.tsv"
    try:
        with open(labels_path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError as e:
        raise EvalError(f"{labels_path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EvalError(f"{labels_path}: not UTF-8 text") from None
    out, seen = [], set()
    for n, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if n == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]:
            continue
        if len(row) < 2:
            raise EvalError(f"{labels_path}:{n}: expected 2 tab-separated columns (file, label)")
        name, label = row[0].strip(), row[1].strip()
        if label not in LABELS:
            raise EvalError(f"{labels_path}:{n}: unknown label {label!r} "
                            f"(known: {', '.join(LABELS)})")
        if name in seen:
            raise EvalError(f"{labels_path}:{n}: {name} listed twice")
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise EvalError(f"{labels_path}:{n}: bad file name {name!r}")
        seen.add(name)
        out.append((name, label))
    return out


def read_truth(path: Path):
    """The mining_flows of one truth file, each with a checked 4-tuple."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise EvalError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise EvalError(f"{path}: not valid JSON: {e}") from None
    flows = doc.get("mining_flows") if isinstance(doc, dict) else None
    if not isinstance(flows, list):
        raise EvalError(f"{path}: no 'mining_flows' list")
    for i, m in enumerate(flows):
        try:
            m["_key"] = flow_key(m["client_ip"], m["client_port"], m["server_ip"],
                                 m["server_port"])
        except (KeyError, TypeError, ValueError):
            raise EvalError(f"{path}: mining_flows[{i}]: needs client_ip, client_port, "
                            "server_ip, server_port") from None
    return flows


def is_capture(path: Path):
    """True when the file starts like a capture (pcap, pcapng, or compressed)."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as e:
        raise EvalError(f"{path}: cannot read: {e.strerror or e}") from None
    return sniff_compression(head) is not None or sniff_format(head) is not None


def collect(dirs):
    """Every labelled file of every folder, in argument then LABELS.tsv order."""
    files, seen_dirs = [], set()
    for d in dirs:
        folder = Path(d)
        if not folder.is_dir():
            raise EvalError(f"{folder}: not a directory")
        real = folder.resolve()
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        for name, label in read_labels(folder):
            path = folder / name
            if not path.is_file():
                raise EvalError(f"{path}: listed in {folder / 'LABELS.tsv'} but "
                                f"{'not a file' if path.exists() else 'missing'}")
            lf = LabelledFile(real.name, name, path, label)
            truth_path = folder / f"{name}.truth.json"
            if label in POSITIVE_LABELS:
                if not truth_path.is_file():
                    raise EvalError(f"{truth_path}: missing (needed for label {label})")
                lf.truth = read_truth(truth_path)
            files.append(lf)
    return files


# --- scoring -----------------------------------------------------------------------------

def hit_brief(hit):
    return {"client_ip": hit["client_ip"], "client_port": hit["client_port"],
            "server_ip": hit["server_ip"], "server_port": hit["server_port"],
            "transport": hit.get("transport"), "variant": hit.get("variant"),
            "worker": hit.get("worker"), "confidence": hit.get("confidence"),
            "signatures": list(hit.get("signatures") or [])}


def tuple_dict(key):
    return {"client_ip": key[0], "client_port": key[1], "server_ip": key[2],
            "server_port": key[3]}


def _hit_sort(h):
    return (h["client_ip"], h["client_port"], h["server_ip"], h["server_port"],
            h.get("variant") or "", h.get("worker") or "")


def score_file(lf: LabelledFile, hits, fill_in):
    """Per-file result dict; `fill_in[key]` supplies truth fields a file's own truth lacks."""
    res = {"folder": lf.folder, "file": lf.name, "path": str(lf.path), "label": lf.label,
           "hits": len(hits)}
    if lf.label in NEGATIVE_LABELS:
        res["false_positives"] = sorted((hit_brief(h) for h in hits), key=_hit_sort)
        return res, {}
    truth = {}
    for m in lf.truth:
        truth.setdefault(m["_key"], m)
    matched = {}          # truth key -> [hits]
    extra = []
    for h in hits:
        k = flow_key(h["client_ip"], h["client_port"], h["server_ip"], h["server_port"])
        if k in truth:
            matched.setdefault(k, []).append(h)
        elif reverse(k) in truth:
            matched.setdefault(reverse(k), []).append(h)
        else:
            extra.append(h)
    res["expected"] = len(truth)
    res["found"] = len(matched)
    res["missed"] = [tuple_dict(k) for k in sorted(truth) if k not in matched]
    res["extra"] = sorted((hit_brief(h) for h in extra), key=_hit_sort)
    per_flow = {}         # key -> {"variant": bool|None, "worker": bool|None, details}
    for fname, agree_fn, want_fn, got in (
            ("variant", variant_agrees, expected_variants, "variant"),
            ("worker", worker_agrees, expected_workers, "worker")):
        compared, agree, disagree = 0, 0, []
        for k in sorted(matched):
            src = truth[k]
            if agree_fn(src, matched[k][0]) is None:
                src = fill_in.get(fname, {}).get(k, src)
            results = [agree_fn(src, h) for h in matched[k]]
            if results[0] is None:
                continue
            ok = all(results)
            compared += 1
            agree += ok
            per_flow.setdefault(k, {})[fname] = ok
            if not ok:
                disagree.append({**tuple_dict(k), "expected": list(want_fn(src)),
                                 "got": sorted({str(h.get(got)) if h.get(got) is not None
                                                else None for h in matched[k]},
                                               key=lambda v: (v is None, v or ""))})
        res[fname] = {"compared": compared, "agree": agree, "disagree": disagree}
    for k in matched:
        per_flow.setdefault(k, {})["signals"] = hit_signals(matched[k][0])
    return res, per_flow


def hit_signals(hit):
    """(signals, web, score) of a hit for the ablation: an encrypted hit's signals
    (detector/encrypted.py), or the single signal 'cleartext'."""
    sigs = [s[len("encrypted."):] for s in hit.get("signatures") or ()
            if s.startswith("encrypted.")]
    timing = hit.get("timing") or {}
    if not sigs:
        return (CLEARTEXT,), False, 0.0
    return tuple(sigs), bool(timing.get("web_alpn")), float(timing.get("score") or 0.0)


def build_fill_in(files):
    """The first truth flow (in evaluation order) naming a variant, by 4-tuple.

    Lets a file whose truth only lists 4-tuples (ndpi/mining.pcapng) have its
    variant compared with the richer truth of the same flow in another folder.
    Workers are not borrowed: overlapping copies are not always byte-identical
    (nDPI's copy of the nesfit eth-eu1 flow has a different login name).
    """
    fill = {"variant": {}}
    for lf in files:
        for m in lf.truth:
            if expected_variants(m) is not None:
                fill["variant"].setdefault(m["_key"], m)
    return fill


def pct(n, d):
    """Percent with one decimal, rounded down: 2601/2602 is 99.9, never 100.0."""
    return (1000 * n // d) / 10 if d else None


def evaluate(dirs, signatures_dir=None, k_bytes=4096, options=EVAL_OPTIONS, progress=None):
    """Scan and score every labelled capture of `dirs`; return the report dict."""
    files = collect(dirs)
    fill_in = build_fill_in(files)
    matcher = load_detectors(signatures_dir)
    warm_up()
    results = []
    groups = {MINING: {}, MINING_TLS: {}}     # label -> {key: {"found": bool, fields}}
    for lf in files:
        if not is_capture(lf.path):
            results.append({"folder": lf.folder, "file": lf.name, "path": str(lf.path),
                            "label": lf.label, "status": STATUS_SKIPPED,
                            "reason": "not a capture"})
            continue
        if progress is not None:
            progress(lf)
        scan = scan_capture(lf.path, matcher, options, k_bytes=k_bytes)
        res, per_flow = score_file(lf, scan.hits, fill_in)
        res["status"] = STATUS_OK if scan.stats.error is None else STATUS_INCOMPLETE
        if scan.stats.error is not None:
            res["error"] = str(scan.stats.error)
        res["flows"] = scan.stats.flows
        results.append(res)
        if lf.label in POSITIVE_LABELS:
            group = groups[lf.label]
            for m in lf.truth:
                entry = group.setdefault(m["_key"], {"found": False, "files": [],
                                                     "variant": [], "worker": [],
                                                     "signals": None})
                if f"{lf.folder}/{lf.name}" not in entry["files"]:
                    entry["files"].append(f"{lf.folder}/{lf.name}")
                if m["_key"] in per_flow:
                    entry["found"] = True
                    entry["signals"] = entry["signals"] or per_flow[m["_key"]].get("signals")
                    for fname in ("variant", "worker"):
                        if fname in per_flow[m["_key"]]:
                            entry[fname].append(per_flow[m["_key"]][fname])
    return summarise(results, groups, matcher.rules.threshold)


def ablation(group, threshold):
    """What each signal contributes to the found flows of `group` (mining_tls): on how
    many it holds, how many it finds alone, and the recall without it (decide()
    replayed with the signal taken away). Cleartext hits count as their own signal."""
    expected = len(group)
    found = [e["signals"] for e in group.values() if e["found"] and e["signals"]]
    rows = []
    for signal in SIGNALS + (CLEARTEXT,):
        holds = alone = without = 0
        for sigs, web, score in found:
            sset = set(sigs)
            holds += signal in sset
            if signal == CLEARTEXT:
                alone += CLEARTEXT in sset
                without += CLEARTEXT not in sset
                continue
            if CLEARTEXT in sset:
                without += 1
                continue
            alone += signal in sset and decide({signal}, web, score, threshold)[0]
            without += decide(sset - {signal}, web, score, threshold)[0]
        rows.append({"signal": signal, "holds": holds, "alone": alone,
                     "recall_without": pct(without, expected), "found_without": without})
    return {"expected": expected, "found": len(found), "signals": rows}


def summarise(results, groups, threshold=1.0):
    def recall(group):
        expected = len(group)
        found = sum(1 for e in group.values() if e["found"])
        missed = [{**tuple_dict(k), "files": e["files"]}
                  for k, e in sorted(group.items()) if not e["found"]]
        return {"expected": expected, "found": found, "percent": pct(found, expected),
                "missed": missed}

    def agreement(group, fname):
        votes = [all(e[fname]) for e in group.values() if e[fname]]
        return {"compared": len(votes), "agree": sum(votes),
                "percent": pct(sum(votes), len(votes))}

    scanned = [r for r in results if r["status"] != STATUS_SKIPPED]
    negatives = [r for r in scanned if r["label"] in NEGATIVE_LABELS]
    positives = [r for r in scanned if r["label"] in POSITIVE_LABELS]
    fp_flows = sum(len(r["false_positives"]) for r in negatives)
    fp_files = sum(1 for r in negatives if r["false_positives"])
    total = {
        "recall": recall(groups[MINING]),
        "mining_tls_recall": recall(groups[MINING_TLS]),
        "false_positives": {"flows": fp_flows, "files": fp_files,
                            "negative_files": len(negatives)},
        "extra": {"flows": sum(len(r["extra"]) for r in positives),
                  "files": sum(1 for r in positives if r["extra"])},
        "variant": agreement(groups[MINING], "variant"),
        "worker": agreement(groups[MINING], "worker"),
        "files": len(results),
        "scanned_files": len(scanned),
        "skipped_files": len(results) - len(scanned),
        "incomplete_files": sum(1 for r in scanned if r["status"] == STATUS_INCOMPLETE),
    }
    rec, tls = total["recall"], total["mining_tls_recall"]
    total["ablation"] = ablation(groups[MINING_TLS], threshold)
    tls_ok = tls["expected"] == 0 or 100 * tls["found"] >= TLS_RECALL_MIN * tls["expected"]
    total["passed"] = rec["found"] == rec["expected"] and fp_flows == 0 and tls_ok
    return {"schema_version": EVAL_SCHEMA_VERSION,
            "options": {"idle_timeout_s": EVAL_OPTIONS.idle_timeout_s,
                        "max_flows": EVAL_OPTIONS.max_flows},
            "files": results, "total": total}


def exit_status(report):
    return 0 if report["total"]["passed"] else 1


# --- output ------------------------------------------------------------------------------

def ratio(n, d, unit="flows"):
    if not d:
        return f"n/a (0 {unit})"
    return f"{n}/{d} ({pct(n, d):.1f}%)"


def _tuple_text(d):
    return f"{d['client_ip']}:{d['client_port']} -> {d['server_ip']}:{d['server_port']}"


def _hit_text(h):
    return (f"{_tuple_text(h)} {h.get('transport') or '-'} variant={h.get('variant') or '-'} "
            f"worker={h.get('worker') or '-'}")


def format_ablation(abl):
    """The --explain table: one line per signal."""
    lines = ["", f"ablation (mining_tls: {abl['found']}/{abl['expected']} found; "
                 "holds = found flows where the signal holds, alone = found by it alone, "
                 "without = recall with it taken away)",
             f"  {'signal':<12}{'holds':>7}{'alone':>7}{'without':>18}"]
    for r in abl["signals"]:
        without = ratio(r["found_without"], abl["expected"])
        lines.append(f"  {r['signal']:<12}{r['holds']:>7}{r['alone']:>7}{without:>18}")
    return lines


def format_table(report, explain=False):
    """Aligned text for people: per-file lines, details, then the TOTAL lines."""
    header = ("file", "label", "recall", "fp", "extra", "variant", "worker", "status")
    rows = []
    for r in report["files"]:
        name = f"{r['folder']}/{r['file']}"
        if r["status"] == STATUS_SKIPPED:
            rows.append((name, r["label"], "-", "-", "-", "-", "-", f"skipped ({r['reason']})"))
            continue
        status = r["status"]    # incomplete: the error is in its own section below
        if r["label"] in NEGATIVE_LABELS:
            rows.append((name, r["label"], "-", str(len(r["false_positives"])), "-", "-", "-",
                         status))
        else:
            rows.append((name, r["label"], f"{r['found']}/{r['expected']}",
                         "-", str(len(r["extra"])),
                         f"{r['variant']['agree']}/{r['variant']['compared']}",
                         f"{r['worker']['agree']}/{r['worker']['compared']}", status))
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header) - 1)]
    lines = []
    for row in [header] + rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])

    def section(title, items):
        if items:
            lines.append("")
            lines.append(f"{title}:")
            lines.extend(f"  {t}" for t in items)

    tot = report["total"]
    section("missed (expected mining flows without a hit)",
            [f"{_tuple_text(m)}  in {', '.join(m['files'])}" for m in tot["recall"]["missed"]]
            + [f"{_tuple_text(m)}  in {', '.join(m['files'])} (mining_tls)"
               for m in tot["mining_tls_recall"]["missed"]])
    section("false positives (hits on benign/crypto_p2p files)",
            [f"{r['folder']}/{r['file']}: {_hit_text(h)}"
             for r in report["files"] if r.get("false_positives") for h in r["false_positives"]])
    section("extra (hits on mining files that are not in the truth)",
            [f"{r['folder']}/{r['file']}: {_hit_text(h)}"
             for r in report["files"] if r.get("extra") for h in r["extra"]])
    for fname in ("variant", "worker"):
        section(f"{fname} disagreements (expected -> got)",
                [f"{r['folder']}/{r['file']}: {_tuple_text(d)}  "
                 f"{'|'.join(d['expected']) or '(none)'} -> "
                 f"{'|'.join(str(g) if g is not None else '-' for g in d['got'])}"
                 for r in report["files"] if fname in r for d in r[fname]["disagree"]])
    section("incomplete scans (the reader stopped early)",
            [r["error"] for r in report["files"] if r["status"] == STATUS_INCOMPLETE])
    rec, tls, fp = tot["recall"], tot["mining_tls_recall"], tot["false_positives"]
    lines.append("")
    lines.append("TOTAL")
    lines.append(f"  recall {ratio(rec['found'], rec['expected'])}")
    lines.append(f"  mining_tls recall {ratio(tls['found'], tls['expected'])}"
                 + (f" (needs >= {TLS_RECALL_MIN:.0f}%)" if tls["expected"] else ""))
    lines.append(f"  false positives: {fp['flows']} flows in {fp['files']} of "
                 f"{fp['negative_files']} benign/crypto_p2p files")
    lines.append(f"  extra: {tot['extra']['flows']} flows in {tot['extra']['files']} "
                 "mining files")
    lines.append(f"  variant agreement {ratio(tot['variant']['agree'], tot['variant']['compared'])}")
    lines.append(f"  worker agreement {ratio(tot['worker']['agree'], tot['worker']['compared'])}")
    lines.append(f"  files: {tot['scanned_files']} scanned, {tot['skipped_files']} skipped "
                 f"(not a capture), {tot['incomplete_files']} incomplete")
    lines.append(f"  result: {'PASS' if tot['passed'] else 'FAIL'}")
    if explain:
        lines.extend(format_ablation(tot["ablation"]))
    return "\n".join(lines) + "\n"


def format_json(report):
    return json.dumps(report, indent=1, sort_keys=False) + "\n"


def run_eval(dirs, fmt="table", signatures_dir=None, out=None, explain=False):
    """Evaluate, print the report to `out`; return the exit status (0 pass, 1 fail)."""
    report = evaluate(dirs, signatures_dir=signatures_dir)
    text = format_json(report) if fmt == "json" else format_table(report, explain)
    (out or _stdout()).write(text)
    return exit_status(report)


def _stdout():
    import sys
    return sys.stdout


__all__ = ["EvalError", "evaluate", "exit_status", "format_json", "format_table", "run_eval",
           "expected_variants", "expected_workers"]
