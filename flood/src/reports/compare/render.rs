//! The report's sections written out twice: `report.md` for reading in a
//! repository, and `index.html`, one self-contained page (the SVG charts
//! inlined, no network fetches, large type) that a teacher can project.

use super::findings::Section;
use std::fmt::Write as _;
use std::path::Path;

const TITLE: &str = "upcase: threading models and transports compared";

/// `report.md`.
pub(super) fn markdown(preface: &[String], sections: &[Section]) -> String {
    let mut md = format!("# {TITLE}\n\n");
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
    let _ = writeln!(page, "<section class=\"preface\">");
    for paragraph in preface {
        let _ = writeln!(page, "<p>{}</p>", inline(paragraph));
    }
    let _ = writeln!(page, "</section>");
    for section in sections {
        let _ = writeln!(page, "<section>\n<h2>{}</h2>", escape(&section.title));
        let _ = writeln!(page, "<p class=\"intro\">{}</p>", inline(&section.intro));
        for chart in &section.charts {
            let svg = std::fs::read_to_string(out.join(chart)).unwrap_or_default();
            let _ = writeln!(page, "<figure>{}</figure>", strip_xml_declaration(&svg));
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
th{background:#eee}figure{margin:1em 0}figure svg{max-width:100%;height:auto}\
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

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    }
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
}
