//! The documentation names real things: every repository path a Markdown page names in a code
//! span (`crates/core/src/ids.rs`) exists, every relative link leads to a file, and every
//! citation of a page's section — `docs/<page>.md §3.4` in code or docs, or a link to a page
//! followed by `§3.4` — names a heading that page has. A file moved or a section renumbered
//! fails here, naming the page and line that still point at it. A path git ignores (a
//! virtualenv the scripts create) may be named without existing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Paths that work in progress on other branches adds (the CodeBuild and import decisions, the
/// buildspec interpreter, the template importer). The docs may name them before they land; once
/// they exist they are checked like any other path.
const IN_PROGRESS: &[&str] =
    &["docs/codebuild.md", "docs/import.md", "crates/providers/src/buildspec", "crates/core/src/import"];

/// Characters that make a code span a pattern or a placeholder rather than a path.
const PATTERN_CHARS: &[char] = &['<', '>', '*', '{', '}', '…', '$', '#', '?', '|', '[', ']', '=', '\''];

/// Text files where citations may appear.
const CITING_EXTENSIONS: &[&str] = &["rs", "md", "toml", "yaml", "yml", "sh", "py", "mjs", "js", "txt"];

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file of the repository worth reading: no build output, no dependencies, no hidden
/// (runtime or tool) directories.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    files
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// The top-level entries of the repository: a code span whose first component is one of them is
/// a repository path.
fn top_level_names(root: &Path) -> BTreeSet<String> {
    fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && name != "target")
        .collect()
}

/// `a/b/../c` without touching the disk.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether `path` (relative to the root) exists, or is work in progress that has not landed.
fn exists_or_in_progress(root: &Path, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    root.join(path).exists() || IN_PROGRESS.contains(&path)
}

/// Whether git ignores `path`: a place the tools make (a virtualenv, screenshots), which a page
/// may name though a fresh clone does not have it.
fn ignored_by_git(root: &Path, path: &str) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["check-ignore", "--quiet", path])
        .status()
        .is_ok_and(|status| status.success())
}

/// Lines of a Markdown text with their numbers, fenced code blocks left out.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The contents of the inline code spans of a line.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// The section numbers of a Markdown page: `## 3. Title` is `3`, `### 3.4 Title` is `3.4`.
fn section_numbers(text: &str) -> BTreeSet<String> {
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let title = line.strip_prefix('#')?.trim_start_matches('#').strip_prefix(' ')?;
            let number = title.split_whitespace().next()?.trim_end_matches('.');
            let numeric = number.starts_with(|c: char| c.is_ascii_digit())
                && number.chars().all(|c| c.is_ascii_digit() || c == '.');
            numeric.then(|| number.to_string())
        })
        .collect()
}

/// The sections a citation names, from the text right after a page's name: `§3.2–3.3, §3.6` is
/// `["3.2", "3.3", "3.6"]`. Empty when no `§` follows.
fn cited_sections(after: &str) -> Vec<String> {
    let mut sections = Vec::new();
    let mut rest = after.trim_start_matches(['`', ')']).trim_start();
    while let Some(spec) = rest.strip_prefix('§') {
        let end = spec.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '–' || c == '-')).unwrap_or(spec.len());
        let range = spec[..end].trim_end_matches(['.', '-', '–']);
        if !range.starts_with(|c: char| c.is_ascii_digit()) {
            // `§N.M` in a sentence about citations: a placeholder, not a citation.
            break;
        }
        sections.extend(range.split(['–', '-']).map(|end| end.trim_end_matches('.').to_string()));
        rest = &spec[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        rest = rest.strip_prefix("and ").unwrap_or(rest);
    }
    sections
}

/// Every `docs/<page>.md` named in `line`, with the text that follows it.
fn page_mentions(line: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find("docs/") {
        let start = from + offset;
        let preceded_by_path = line[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '/');
        let length = line[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')))
            .unwrap_or(line.len() - start);
        let path = line[start..start + length].trim_end_matches('.');
        if !preceded_by_path && path.ends_with(".md") {
            found.push((path, &line[start + path.len()..]));
        }
        from = start + length.max(1);
    }
    found
}

/// Markdown links of a line: the target (anchor removed) and the text after the link.
fn links(line: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find("](") {
        let start = from + offset + 2;
        let Some(length) = line[start..].find(')') else { break };
        let target = &line[start..start + length];
        let external = target.contains("://") || target.starts_with("mailto:") || target.starts_with('#');
        if !external && !target.is_empty() {
            found.push((target.split('#').next().unwrap_or(target), &line[start + length + 1..]));
        }
        from = start + length;
    }
    found
}

/// The sections of `sections` that `page` (relative to the root) lacks, each described.
fn check_sections(root: &Path, page: &str, sections: &[String], at: &str) -> Vec<String> {
    if sections.is_empty() {
        return Vec::new();
    }
    let Ok(text) = fs::read_to_string(root.join(page)) else {
        return if IN_PROGRESS.contains(&page) {
            Vec::new()
        } else {
            vec![format!("{at}: cites {page}, which does not exist")]
        };
    };
    let known = section_numbers(&text);
    sections
        .iter()
        .filter(|section| !known.contains(*section))
        .map(|section| format!("{at}: cites {page} §{section}, which has no such section"))
        .collect()
}

/// What is wrong in one Markdown page: paths it names that do not exist, links that lead
/// nowhere, sections it cites that its target lacks.
fn problems_in_page(root: &Path, top_level: &BTreeSet<String>, page: &str, text: &str) -> Vec<String> {
    let directory = Path::new(page).parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (number, line) in prose_lines(text) {
        let at = format!("{page}:{number}");
        for span in code_spans(line) {
            let first = span.split('/').next().unwrap_or_default();
            let is_path = !span.is_empty()
                && !span.contains(char::is_whitespace)
                && !span.contains(PATTERN_CHARS)
                && top_level.contains(first);
            if is_path && !exists_or_in_progress(root, span) && !ignored_by_git(root, span) {
                problems.push(format!("{at}: names `{span}`, which does not exist"));
            }
        }
        for (target, after) in links(line) {
            let resolved = relative(Path::new(""), &normalise(&directory.join(target)));
            if !exists_or_in_progress(root, &resolved) {
                problems.push(format!("{at}: links to {target} ({resolved}), which does not exist"));
            } else if resolved.ends_with(".md") {
                problems.extend(check_sections(root, &resolved, &cited_sections(after), &at));
            }
        }
    }
    problems
}

/// Citations of `docs/<page>.md §N.M` in any text file, checked against the page's headings.
fn problems_in_citations(root: &Path, file: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for (page, after) in page_mentions(line) {
            problems.extend(check_sections(root, page, &cited_sections(after), &format!("{file}:{}", index + 1)));
        }
    }
    problems
}

fn report(problems: &[String]) -> String {
    format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  "))
}

#[test]
fn every_path_and_link_in_the_docs_exists() {
    let root = repository_root();
    let top_level = top_level_names(&root);
    let mut problems = Vec::new();
    let mut pages = 0;
    for file in repository_files(&root).iter().filter(|f| f.extension().is_some_and(|e| e == "md")) {
        let text = fs::read_to_string(file).unwrap_or_default();
        pages += 1;
        problems.extend(problems_in_page(&root, &top_level, &relative(&root, file), &text));
    }
    assert!(pages >= 5, "found only {pages} Markdown pages under {}", root.display());
    assert!(problems.is_empty(), "{}", report(&problems));
}

#[test]
fn every_cited_section_exists() {
    let root = repository_root();
    let mut problems = Vec::new();
    let mut citations = 0;
    for file in repository_files(&root) {
        let citing = file.extension().and_then(|e| e.to_str()).is_some_and(|e| CITING_EXTENSIONS.contains(&e));
        let Some(text) = citing.then(|| fs::read_to_string(&file).ok()).flatten() else { continue };
        citations +=
            text.lines().flat_map(page_mentions).filter(|(_, after)| !cited_sections(after).is_empty()).count();
        problems.extend(problems_in_citations(&root, &relative(&root, &file), &text));
    }
    assert!(citations >= 20, "found only {citations} section citations; is the scan reading the tree?");
    assert!(problems.is_empty(), "{}", report(&problems));
}

/// Citations of the documents that lived outside the repository before `docs/` held them: the
/// shared reference and the shared design (the bare words `reference` and `DESIGN` before a
/// section sign) and the `shared` directory beside the checkout. The patterns are built here so
/// that this file does not match them.
fn outside_citations(line: &str) -> Vec<String> {
    let shared_directory = format!("{}/shared", "..");
    let mut found = Vec::new();
    for word in ["reference", "DESIGN"] {
        let pattern = format!("{word} §");
        let cited = line.match_indices(&pattern).any(|(at, _)| {
            // `docs/reference §…` would be a citation of the page; only the bare word is old.
            !line[..at].ends_with(|c: char| c == '/' || c.is_alphanumeric())
        });
        if cited {
            found.push(pattern);
        }
    }
    if line.contains(&shared_directory) {
        found.push(shared_directory);
    }
    found
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let root = repository_root();
    let mut problems = Vec::new();
    for file in repository_files(&root) {
        let citing = file.extension().and_then(|e| e.to_str()).is_some_and(|e| CITING_EXTENSIONS.contains(&e));
        let Some(text) = citing.then(|| fs::read_to_string(&file).ok()).flatten() else { continue };
        for (index, line) in text.lines().enumerate() {
            for old in outside_citations(line) {
                problems.push(format!(
                    "{}:{}: cites \"{old}\"; cite docs/reference/codepipeline.md §N or docs/design.md §N instead",
                    relative(&root, &file),
                    index + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", report(&problems));
}

// The checker itself must catch what it is for; the cited pages below are built at run time so
// that the citation scan of this very file does not read them as citations.

#[test]
fn a_missing_path_is_reported() {
    let root = repository_root();
    let top_level = top_level_names(&root);
    let text = "The store is `crates/local/src/store.rs`; the queue is `crates/local/src/queue.rs`.\n";
    let problems = problems_in_page(&root, &top_level, "docs/example.md", text);
    assert_eq!(problems, ["docs/example.md:1: names `crates/local/src/queue.rs`, which does not exist"]);
}

#[test]
fn patterns_commands_ignored_places_and_fenced_blocks_pass() {
    let root = repository_root();
    let top_level = top_level_names(&root);
    let text = "`infra/pipelines/<x>.json`, `tests/run.sh --fast`, `infra/local/.venv-*`, `infra/local/.venv`\n\
                ```\ncrates/none.rs `crates/none.rs`\n```\n";
    assert!(problems_in_page(&root, &top_level, "docs/example.md", text).is_empty());
}

#[test]
fn a_broken_link_is_reported() {
    let root = repository_root();
    let top_level = top_level_names(&root);
    let text = "See [the design](design.md) and [the plan](plan.md).\n";
    let problems = problems_in_page(&root, &top_level, "docs/example.md", text);
    assert_eq!(problems, ["docs/example.md:1: links to plan.md (docs/plan.md), which does not exist"]);
}

#[test]
fn a_missing_section_is_reported() {
    let root = repository_root();
    let page = format!("docs/{}.md", "design");
    let text = format!("// as {page} §3 and §4 say; see also {page} §2, §42–43.\n");
    let problems = problems_in_citations(&root, "src/example.rs", &text);
    assert_eq!(
        problems,
        [
            format!("src/example.rs:1: cites {page} §42, which has no such section"),
            format!("src/example.rs:1: cites {page} §43, which has no such section"),
        ]
    );
    let link = format!("[the design]({}.md) §99", "design");
    let problems = problems_in_page(&root, &top_level_names(&root), "docs/example.md", &link);
    assert_eq!(problems, [format!("docs/example.md:1: cites {page} §99, which has no such section")]);
}

#[test]
fn old_citations_are_recognised() {
    let old = |word: &str, rest: &str| format!("/// the limit ({word} {rest})");
    assert_eq!(outside_citations(&old("reference", "§1.6")), [format!("{} §", "reference")]);
    assert_eq!(outside_citations(&old("DESIGN", "§8")), [format!("{} §", "DESIGN")]);
    let outside = format!("{}/shared", "..");
    assert!(outside_citations(&format!("see {outside}/notes.md")).len() == 1);
    assert!(outside_citations(&old("docs/reference/codepipeline.md", "§1.6")).is_empty());
}

#[test]
fn citations_and_headings_are_read_as_written() {
    assert_eq!(cited_sections(" §3.2–3.3, §3.6–3.7)."), ["3.2", "3.3", "3.6", "3.7"]);
    assert_eq!(cited_sections("` §4."), ["4"]);
    assert_eq!(cited_sections(" §1.1–1.6 and §9"), ["1.1", "1.6", "9"]);
    assert!(cited_sections(" (the design)").is_empty());
    assert!(cited_sections(" §N.M").is_empty());
    let headings =
        section_numbers("# Title\n## 0. Short\n### 3.10 Statuses\n```\n## 7. In a block\n```\n## Glossary\n");
    assert_eq!(headings, BTreeSet::from(["0".to_string(), "3.10".to_string()]));
}
