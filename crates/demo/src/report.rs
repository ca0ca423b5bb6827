//! The main job's report: what it read, what it made, how good the model is beside the trivial baseline, what QC
//! said, what each stage cost — as one self-contained HTML page (PNG files beside it) and as JSON.

use std::fmt::Write as _;

use crate::stage::StageRecord;

/// An image in the report, with its legend.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Figure {
    /// Heading.
    pub title: String,
    /// The PNG, relative to the report.
    pub file: String,
    /// One or two sentences under it.
    pub caption: String,
    /// Colour swatches (name, colour); empty for none.
    pub legend: Vec<(String, [u8; 3])>,
}

/// One metric of the model beside the trivial baseline's.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricRow {
    /// Metric name.
    pub name: String,
    /// The trained model's value.
    pub model: f64,
    /// The trivial baseline's value (always the majority class of the training split).
    pub baseline: f64,
}

/// One product's QC verdict and every check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QcVerdict {
    /// The product.
    pub product: String,
    /// Whether it passed (and was published).
    pub passed: bool,
    /// (check, status, detail).
    pub checks: Vec<(String, String, String)>,
}

/// Everything the report shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// Page title.
    pub title: String,
    /// When the job ran (UTC).
    pub created: String,
    /// Overall verdict: did every stage and QC pass?
    pub ok: bool,
    /// Paragraphs about the input: where the scene comes from, its licence, its shape.
    pub input: Vec<String>,
    /// Where the labels come from (said plainly when they are derived from the scene).
    pub labels: String,
    /// Previews.
    pub figures: Vec<Figure>,
    /// Headline metrics on the validation split.
    pub metrics: Vec<MetricRow>,
    /// Per-class rows: (class, colour, IoU, F1, validation pixels).
    pub classes: Vec<(String, [u8; 3], f64, f64, u64)>,
    /// Confusion matrix (rows: reference, columns: predicted) with its class names.
    pub confusion: Option<(Vec<String>, Vec<Vec<u64>>)>,
    /// Training pictures from the run directory (loss curves, validation samples).
    pub training_figures: Vec<Figure>,
    /// QC of every product.
    pub qc: Vec<QcVerdict>,
    /// Every stage.
    pub stages: Vec<StageRecord>,
    /// Where every output lies: (what, where).
    pub outputs: Vec<(String, String)>,
    /// Notes a reader should know (derived labels, reflectance approximations, …).
    pub notes: Vec<String>,
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}\
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}.muted{color:#666}\
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:4px;color:#fff;font-weight:600}\
.pass{background:#2e7d32}.fail{background:#c62828}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1.2rem}\
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:.6rem;background:#fafafa}\
figure img{width:100%;image-rendering:pixelated;background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px}\
figcaption{font-size:.9rem}.legend span{display:inline-block;margin:.2rem .8rem .2rem 0;font-size:.85rem}\
.sw{display:inline-block;width:.9rem;height:.9rem;border:1px solid #999;vertical-align:middle;margin-right:.3rem}\
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.82rem;word-break:break-all}\
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}";

/// The report as one HTML page; images are the PNG files named in the figures, beside the page.
pub fn render_html(report: &Report) -> String {
    let mut h = String::new();
    let e = escape;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        e(&report.title)
    );
    let (class, word) = if report.ok { ("pass", "COMPLETE") } else { ("fail", "FAILED") };
    let _ = writeln!(
        h,
        "<h1>{}</h1><p class=\"muted\">{} &middot; <span class=\"verdict {class}\" id=\"verdict\">{word}</span></p>",
        e(&report.title),
        e(&report.created)
    );
    h.push_str("<h2>Input</h2>");
    for p in &report.input {
        let _ = write!(h, "<p>{}</p>", e(p));
    }
    let _ = writeln!(h, "<p><strong>Labels:</strong> {}</p>", e(&report.labels));

    h.push_str("<h2>Maps</h2><div class=\"grid\">");
    for f in &report.figures {
        figure(&mut h, f);
    }
    h.push_str("</div>\n");

    h.push_str("<h2>Model quality (validation split)</h2>");
    if report.metrics.is_empty() {
        h.push_str("<p class=\"bad\">No metrics: the model was not evaluated.</p>");
    } else {
        h.push_str("<table id=\"metrics\"><tr><th>metric</th><th>trained U-Net</th><th>trivial baseline</th><th>model &minus; baseline</th></tr>");
        for m in &report.metrics {
            let diff = m.model - m.baseline;
            let cls = if diff > 0.0 { "ok" } else { "bad" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n {cls}\">{diff:+.3}</td></tr>",
                e(&m.name),
                m.model,
                m.baseline
            );
        }
        h.push_str("</table><p class=\"muted\">The trivial baseline predicts the training split's most frequent class everywhere.</p>");
    }
    if !report.classes.is_empty() {
        h.push_str("<table><tr><th>class</th><th>IoU</th><th>F1</th><th>validation pixels</th></tr>");
        for (name, c, iou, f1, n) in &report.classes {
            let _ = write!(
                h,
                "<tr><td>{}{}</td><td class=\"n\">{iou:.3}</td><td class=\"n\">{f1:.3}</td><td class=\"n\">{n}</td></tr>",
                swatch(*c),
                e(name)
            );
        }
        h.push_str("</table>");
    }
    if let Some((names, rows)) = &report.confusion {
        h.push_str("<p>Confusion matrix (rows: labels, columns: predictions)</p><table><tr><th></th>");
        for n in names {
            let _ = write!(h, "<th>{}</th>", e(n));
        }
        h.push_str("</tr>");
        for (name, row) in names.iter().zip(rows) {
            let _ = write!(h, "<tr><th>{}</th>", e(name));
            for v in row {
                let _ = write!(h, "<td class=\"n\">{v}</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    if !report.training_figures.is_empty() {
        h.push_str("<div class=\"grid\">");
        for f in &report.training_figures {
            figure(&mut h, f);
        }
        h.push_str("</div>");
    }

    h.push_str("\n<h2>Quality control</h2><table id=\"qc\"><tr><th>product</th><th>verdict</th><th>checks</th></tr>");
    for q in &report.qc {
        let (cls, word) = if q.passed { ("pass", "PASS — published") } else { ("fail", "FAIL — not published") };
        let failed = q.checks.iter().filter(|c| c.1 != "PASS").count();
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><span class=\"verdict {cls}\">{word}</span></td><td class=\"n\">{} checks, {failed} failed</td></tr>",
            e(&q.product),
            q.checks.len()
        );
    }
    h.push_str("</table>");
    for q in &report.qc {
        let _ = write!(
            h,
            "<details><summary>every check of <code>{}</code></summary><table><tr><th>check</th><th>status</th><th>detail</th></tr>",
            e(&q.product)
        );
        for (name, status, detail) in &q.checks {
            let cls = if status == "PASS" { "ok" } else { "bad" };
            let _ =
                write!(h, "<tr><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td></tr>", e(name), e(status), e(detail));
        }
        h.push_str("</table></details>");
    }

    h.push_str("\n<h2>Stages</h2><table id=\"stages\"><tr><th>#</th><th>stage</th><th>wall s</th><th>CPU s</th><th>peak memory MiB</th><th>throughput</th><th>command</th></tr>");
    let opt = |v: Option<f64>, digits: usize| v.map_or_else(|| "&ndash;".to_owned(), |v| format!("{v:.digits$}"));
    for (i, s) in report.stages.iter().enumerate() {
        let status = match &s.error {
            Some(err) => format!("<br><span class=\"bad\">failed: {}</span>", e(err)),
            None => String::new(),
        };
        let tp =
            s.throughput.as_ref().map_or_else(|| "&ndash;".to_owned(), |t| format!("{:.3} {}", t.value, e(&t.unit)));
        let _ = write!(
            h,
            "<tr><td class=\"n\">{}</td><td><strong>{}</strong><br><span class=\"muted\">{}</span>{status}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{tp}</td><td><code>{}</code></td></tr>",
            i + 1,
            e(&s.name),
            e(&s.what),
            s.wall_s,
            opt(s.cpu_s, 2),
            opt(s.peak_rss_mib, 0),
            e(&s.command)
        );
    }
    let total: f64 = report.stages.iter().map(|s| s.wall_s).sum();
    let peak = report.stages.iter().filter_map(|s| s.peak_rss_mib).fold(0.0, f64::max);
    let _ = write!(
        h,
        "<tr><th></th><th>total</th><th class=\"n\">{total:.1}</th><th></th><th class=\"n\">{peak:.0} (max)</th><th></th><th></th></tr></table>"
    );

    h.push_str("\n<h2>Outputs</h2><table id=\"outputs\"><tr><th>what</th><th>where</th></tr>");
    for (what, at) in &report.outputs {
        let _ = write!(h, "<tr><td>{}</td><td><code>{}</code></td></tr>", e(what), e(at));
    }
    h.push_str("</table>");
    if !report.notes.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in &report.notes {
            let _ = write!(h, "<li>{}</li>", e(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("\n</body></html>\n");
    h
}

fn swatch(c: [u8; 3]) -> String {
    format!("<span class=\"sw\" style=\"background:rgb({},{},{})\"></span>", c[0], c[1], c[2])
}

fn figure(h: &mut String, f: &Figure) {
    let e = escape;
    let _ = write!(
        h,
        "<figure><strong>{}</strong><img src=\"{}\" alt=\"{}\"><figcaption>{}",
        e(&f.title),
        e(&f.file),
        e(&f.title),
        e(&f.caption)
    );
    if !f.legend.is_empty() {
        h.push_str("<div class=\"legend\">");
        for (name, c) in &f.legend {
            let _ = write!(h, "<span>{}{}</span>", swatch(*c), e(name));
        }
        h.push_str("</div>");
    }
    h.push_str("</figcaption></figure>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_every_section_is_rendered() {
        let report = Report {
            title: "a <b> & c".into(),
            created: "2026-12-03T00:00:00Z".into(),
            ok: false,
            input: vec!["scene".into()],
            labels: "derived".into(),
            figures: vec![Figure {
                title: "RGB".into(),
                file: "rgb.png".into(),
                caption: "c".into(),
                legend: vec![("water".into(), [1, 2, 3])],
            }],
            metrics: vec![MetricRow { name: "pixel accuracy".into(), model: 0.9, baseline: 0.6 }],
            classes: vec![],
            confusion: Some((vec!["a".into()], vec![vec![5]])),
            training_figures: vec![],
            qc: vec![QcVerdict {
                product: "m.tif".into(),
                passed: true,
                checks: vec![("crs".into(), "PASS".into(), "EPSG".into())],
            }],
            stages: vec![],
            outputs: vec![("map".into(), "s3://b/m.tif".into())],
            notes: vec![],
        };
        let html = render_html(&report);
        assert!(html.contains("a &lt;b&gt; &amp; c") && !html.contains("<b>"));
        assert!(html.contains("src=\"rgb.png\"") && html.contains("rgb(1,2,3)"));
        assert!(html.contains("+0.300") && html.contains("FAILED") && html.contains("s3://b/m.tif"));
    }
}
