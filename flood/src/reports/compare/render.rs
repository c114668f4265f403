//! The report's sections written out twice: `report.md` for reading in a
//! repository, and `index.html`, one self-contained page (the SVG charts
//! inlined, no network fetches, large type) that a teacher can project.

use super::findings::{sketches, Section};
use std::fmt::Write as _;
use std::path::Path;

const TITLE: &str = "upcase: threading models and transports compared";

/// `report.md`.
pub(super) fn markdown(preface: &[String], sections: &[Section]) -> String {
    let mut md = format!("# {TITLE}\n\n## The models\n\n");
    for sketch in sketches() {
        let _ = writeln!(md, "**{}**: {}\n", sketch.name, sketch.summary);
        if !sketch.diagram.is_empty() {
            let _ = writeln!(md, "```text\n{}\n```\n", sketch.diagram);
        }
    }
    let _ = writeln!(md, "## How this was measured\n");
    for paragraph in preface {
        let _ = writeln!(md, "{paragraph}\n");
    }
    for section in sections {
        let _ = writeln!(md, "## {}\n\n{}\n", section.title, section.intro);
        if !section.charts.is_empty() {
            let images: Vec<String> = section
                .charts
                .iter()
                .map(|c| format!("![{}]({c})", c.trim_end_matches(".svg")))
                .collect();
            let _ = writeln!(md, "{}\n", images.join(" "));
        }
        let table = &section.table;
        let _ = writeln!(md, "| {} |", table.header.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(table.header.len()));
        for row in &table.rows {
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
        let _ = writeln!(
            md,
            "\n**What it shows** (computed from the numbers above):\n"
        );
        for finding in &section.findings {
            let _ = writeln!(md, "- {finding}");
        }
        let _ = writeln!(md, "\n*What it cannot show here:*\n");
        for limit in &section.limits {
            let _ = writeln!(md, "- {limit}");
        }
        md.push('\n');
    }
    md
}

/// `index.html`: the same content with the charts inlined from `out`.
pub(super) fn html(out: &Path, preface: &[String], sections: &[Section]) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{TITLE}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{TITLE}</h1>\n"
    );
    let _ = writeln!(page, "<section class=\"models\">\n<h2>The models</h2>");
    for sketch in sketches() {
        let _ = writeln!(
            page,
            "<div class=\"model\"><p><b>{}</b>: {}</p>",
            escape(sketch.name),
            inline(sketch.summary)
        );
        if !sketch.diagram.is_empty() {
            let _ = writeln!(page, "<pre>{}</pre>", escape(sketch.diagram));
        }
        let _ = writeln!(page, "</div>");
    }
    let _ = writeln!(page, "</section>");
    let _ = writeln!(
        page,
        "<section class=\"preface\">\n<h2>How this was measured</h2>"
    );
    for paragraph in preface {
        let _ = writeln!(page, "<p>{}</p>", inline(paragraph));
    }
    let _ = writeln!(page, "</section>");
    for section in sections {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape(&section.title));
        let _ = writeln!(page, "<p class=\"intro\">{}</p>", inline(&section.intro));
        for chart in &section.charts {
            let svg = std::fs::read_to_string(out.join(chart)).unwrap_or_default();
            let _ = writeln!(page, "<figure>{}</figure>", fit_width(&svg));
        }
        let _ = writeln!(page, "<table>\n<tr>");
        for cell in &section.table.header {
            let _ = write!(page, "<th>{}</th>", inline(cell));
        }
        let _ = writeln!(page, "</tr>");
        for row in &section.table.rows {
            let _ = write!(page, "<tr>");
            for cell in row {
                let _ = write!(page, "<td>{}</td>", inline(cell));
            }
            let _ = writeln!(page, "</tr>");
        }
        let _ = writeln!(
            page,
            "</table>\n<h3>What it shows</h3>\n<ul class=\"findings\">"
        );
        for finding in &section.findings {
            let _ = writeln!(page, "<li>{}</li>", inline(finding));
        }
        let _ = writeln!(
            page,
            "</ul>\n<h3>What it cannot show here</h3>\n<ul class=\"limits\">"
        );
        for limit in &section.limits {
            let _ = writeln!(page, "<li>{}</li>", inline(limit));
        }
        let _ = writeln!(page, "</ul>\n</section>");
    }
    page.push_str("</body>\n</html>\n");
    page
}

const STYLE: &str = "body{font:24px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;\
padding:0 1em;color:#1a1a1a}h1{font-size:1.7em}h2{font-size:1.35em;margin-top:2em;\
border-bottom:2px solid #ccc}h3{font-size:1em;margin-bottom:.2em}table{border-collapse:collapse;\
margin:1em 0;font-size:.8em}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}\
th{background:#eee}figure{margin:1em 0}figure svg{display:block;width:100%;height:auto}\
pre{font-size:.8em;background:#f6f6f6;padding:.5em;overflow-x:auto;line-height:1.3}\
.model p{margin:.6em 0 .2em}\
.findings li{margin:.3em 0}.limits{color:#555;font-size:.85em}.preface p{margin:.4em 0}\
code{font-size:.9em;background:#f2f2f2;padding:0 .2em}";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The markdown the sections use inline: `code` and **bold**.
fn inline(text: &str) -> String {
    let mut html = String::new();
    for (index, part) in escape(text).split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(html, "<code>{part}</code>");
        } else {
            for (bold, piece) in part.split("**").enumerate() {
                if bold % 2 == 1 {
                    let _ = write!(html, "<b>{piece}</b>");
                } else {
                    html.push_str(piece);
                }
            }
        }
    }
    html
}

/// The SVG without its XML declaration, and with its fixed width and
/// height replaced by the page's width (its `viewBox` keeps the shape).
fn fit_width(svg: &str) -> String {
    let svg = match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    };
    let Some(end) = svg.find('>') else {
        return svg.to_string();
    };
    let (tag, rest) = svg.split_at(end);
    let tag: Vec<&str> = tag
        .split(' ')
        .filter(|attribute| !attribute.starts_with("width=") && !attribute.starts_with("height="))
        .collect();
    format!("{} width=\"100%\"{rest}", tag.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_becomes_html_and_text_is_escaped() {
        assert_eq!(
            inline("**3 of 4** never answered by `fixed-pool` <x>"),
            "<b>3 of 4</b> never answered by <code>fixed-pool</code> &lt;x&gt;"
        );
    }

    #[test]
    fn a_chart_fills_the_page_width_and_keeps_its_view_box() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"1200\" height=\"720\" viewBox=\"0 0 1200 720\" xmlns=\"x\">\n<text/></svg>";
        let fitted = fit_width(svg);
        assert!(
            fitted.starts_with("<svg viewBox=\"0 0 1200 720\" xmlns=\"x\" width=\"100%\">"),
            "{fitted}"
        );
        assert!(!fitted.contains("width=\"1200\""));
    }
}
