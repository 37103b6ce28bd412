"""Stand-alone HTML pages for reports a person would rather look at (no network, no scripts)."""

from __future__ import annotations

import json
import math

import jinja2

from modelyard.contracts import ValidationReport

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

_VALIDATION = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ report.data }} — contract {{ report.contract }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430}
h1{font-size:1.3rem;margin:0 0 .3rem} .sub{color:#5a6475;margin-bottom:1.2rem}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:.6rem;font-weight:600}
.ok{background:#dff5e3;color:#17692c} .fail{background:#fde2e1;color:#a4161a}
.warn{background:#fff1cc;color:#7a5300}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.4rem}
th,td{border-bottom:1px solid #e3e7ee;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f7fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eef1f5;height:.55rem;border-radius:.3rem;min-width:6rem}
.bar span{display:block;height:100%;border-radius:.3rem;background:#d8343a}
details{margin:.2rem 0} code{font-size:12px}
</style></head><body>
<h1>{{ report.data }} against contract “{{ report.contract }}”
{% if report.passed %}<span class="badge ok">passed</span>
{% else %}<span class="badge fail">failed</span>{% endif %}</h1>
<div class="sub">{{ "{:,}".format(report.num_rows) }} rows ·
{{ errors }} error rule(s) failed · {{ warnings }} warning(s) ·
{{ results|length }} rules · contract digest <code>{{ report.contract_digest }}</code></div>
<table><thead><tr><th>rule</th><th>severity</th><th>result</th><th>observed</th>
<th>expected</th><th>failing rows</th><th></th></tr></thead><tbody>
{% for r in results %}<tr>
<td><code>{{ r.rule_id }}</code></td><td>{{ r.severity }}</td>
<td>{% if r.passed %}<span class="badge ok">pass</span>{% elif r.severity == "warn" %}
<span class="badge warn">warn</span>{% else %}<span class="badge fail">fail</span>{% endif %}</td>
<td>{{ fmt(r.observed) }}</td><td>{{ r.expected }}</td>
<td class="num">{{ "{:,}".format(r.failing_rows) if r.failing_rows else "—" }}</td>
<td><div class="bar"><span style="width:{{ pct(r.failing_fraction) }}%"></span></div></td>
</tr>{% if r.sample %}<tr><td colspan="7"><details><summary>sample of failing rows</summary>
<pre>{{ sample(r.sample) }}</pre></details></td></tr>{% endif %}
{% endfor %}</tbody></table>
</body></html>
"""
)


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _pct(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return "0"
    return f"{max(min(fraction, 1.0), 0.0) * 100:.1f}"


def render_validation_html(report: ValidationReport) -> str:
    """Render a validation report as one self-contained HTML page, failures first."""
    results = sorted(report.results, key=lambda result: result.passed)
    return _VALIDATION.render(
        report=report,
        results=results,
        errors=len(report.errors),
        warnings=len(report.warnings),
        fmt=_fmt,
        pct=_pct,
        sample=lambda rows: json.dumps(rows, indent=2, default=str),
    )
