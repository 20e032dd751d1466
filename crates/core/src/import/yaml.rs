//! CloudFormation's YAML (docs/import.md, "Reading the file"): YAML 1.1 scalars as PyYAML
//! types them (`yes`/`no`/`on`/`off` are booleans, `2012-10-17` stays a string), short-form
//! intrinsic tags turned into their long form (`!GetAtt a.b.c` → `{"Fn::GetAtt": ["a", "b.c"]}`),
//! and no anchors, aliases or merge keys — CloudFormation refuses them, and refusing them here
//! also makes alias bombs impossible. The tree is built from parser events without recursion,
//! and nesting deeper than [`MAX_DEPTH`] is refused.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::node::{MAX_DEPTH, Map, Node};

/// A YAML text that is not a CloudFormation template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

fn error_at(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError { line: span.start.line(), column: span.start.col() + 1, message: message.into() }
}

enum Frame {
    List { items: Vec<Node>, tag: Option<String> },
    Map { map: Map, key: Option<String>, tag: Option<String> },
}

/// The parser's refusal of a quoted scalar's line indented no deeper than its key.
const QUOTED_SCALAR_INDENTATION: &str = "invalid indentation in quoted scalar";

/// How many quoted scalars one text may have indented again: each costs a parse.
const MOST_REINDENTED: usize = 32;

/// Reads one CloudFormation YAML document.
///
/// A quoted scalar over several lines whose later lines are indented no deeper than its key
/// (`Overrides: !Sub '{` … `}'` at the key's column) is refused by the YAML spec and by the
/// parser, but PyYAML, cfn-lint and CloudFormation read it. Such a scalar is read as they read
/// it: its lines are indented again, which changes nothing of its value, since a quoted
/// scalar's line breaks fold and each line's leading blanks are dropped.
pub fn read(text: &str) -> Result<Node, YamlError> {
    read_noting(text).map(|(node, _)| node)
}

/// [`read`], with a note for each key a mapping gives twice (`line 12: key "Effect" …`): the
/// last value counts, as CloudFormation takes it.
pub fn read_noting(text: &str) -> Result<(Node, Vec<String>), YamlError> {
    // Indenting again may add at most this much, whatever the text: a hostile scalar of many
    // empty lines under a deep key would otherwise grow with their product.
    let most = text.len() + text.len().min(64 * 1024);
    let mut text = std::borrow::Cow::Borrowed(text);
    for _ in 0..MOST_REINDENTED {
        match read_once(&text) {
            Err(error) if error.message == QUOTED_SCALAR_INDENTATION => {
                match reindented(&text, &error, most) {
                    Some(fixed) => text = std::borrow::Cow::Owned(fixed),
                    // The parser's own error: indenting adds no line, so its line is the file's.
                    None => return Err(error),
                }
            }
            read => return read,
        }
    }
    read_once(&text)
}

/// `text` with the later lines of the quoted scalar that starts where `error` points indented
/// one column deeper than its key; `None` when no quoted scalar starts there, when the result
/// would be longer than `most` bytes, or when the text has a lone carriage return, which the
/// parser counts as a line break and lines here do not.
fn reindented(text: &str, error: &YamlError, most: usize) -> Option<String> {
    if text.match_indices('\r').any(|(at, _)| !text[at + 1..].starts_with('\n')) {
        return None;
    }
    let line_start: usize = text.split_inclusive('\n').take(error.line.checked_sub(1)?).map(str::len).sum();
    let line = text[line_start..].lines().next()?;
    let (offset, quote) = line.char_indices().nth(error.column.checked_sub(1)?)?;
    if quote != '\'' && quote != '"' {
        return None;
    }
    // The key's column: past the line's blanks and any sequence entries (`- - key: '…`).
    let before = &line[..offset];
    let mut key = before.trim_start_matches(' ');
    while let Some(rest) = key.strip_prefix('-').filter(|rest| rest.starts_with(' ')) {
        key = rest.trim_start_matches(' ');
    }
    let column = before[..before.len() - key.len()].chars().count() + 1;
    let start = line_start + offset + 1;
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..start]);
    let mut chars = text[start..].char_indices().peekable();
    let mut end = None;
    while let Some((at, c)) = chars.next() {
        out.push(c);
        // An escaped character (`\"`, a line break after `\`) or a doubled quote (`''`).
        let escaped = match c {
            '\\' if quote == '"' => chars.next(),
            '\'' if quote == '\'' && chars.peek().is_some_and(|(_, next)| *next == '\'') => chars.next(),
            c if c == quote => {
                end = Some(start + at + c.len_utf8());
                break;
            }
            _ => None,
        };
        let (at, c) = match escaped {
            Some((at, escaped)) => {
                out.push(escaped);
                (at, escaped)
            }
            None => (at, c),
        };
        if c == '\n' {
            let rest = &text[start + at + 1..];
            let blanks = rest.len() - rest.trim_start_matches(' ').len();
            let padding = column.saturating_sub(blanks);
            if out.len() + padding + (text.len() - start - at) > most {
                return None;
            }
            out.extend(std::iter::repeat_n(' ', padding));
        }
    }
    out.push_str(&text[end?..]);
    Some(out)
}

fn read_once(text: &str) -> Result<(Node, Vec<String>), YamlError> {
    let mut duplicates = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(error_at(&span, "a template is one YAML document; this file has several (---)"));
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(error_at(&span, "aliases (*name) are not allowed in CloudFormation templates"));
            }
            Event::Scalar(value, style, anchor, tag) => {
                refuse_anchor(anchor, &span)?;
                let tag = tag_name(tag.as_deref(), &span)?;
                // Keys are names as written: a parameter called `On` stays `On`.
                let is_key = matches!(stack.last(), Some(Frame::Map { key: None, .. }));
                let scalar = scalar(&value, style, tag.is_some() || is_key);
                match tag {
                    Some(function) => short_form(&function, scalar),
                    None => scalar,
                }
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor(anchor, &span)?;
                let tag = tag_name(tag.as_deref(), &span)?;
                push(&mut stack, Frame::List { items: Vec::new(), tag }, &span)?;
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor(anchor, &span)?;
                let tag = tag_name(tag.as_deref(), &span)?;
                push(&mut stack, Frame::Map { map: Map::new(), key: None, tag }, &span)?;
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::List { items, tag }) => tagged(tag, Node::List(items)),
                _ => return Err(error_at(&span, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { map, key: None, tag }) => tagged(tag, Node::Map(map)),
                _ => return Err(error_at(&span, "unbalanced mapping")),
            },
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::List { items, .. }) => items.push(node),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => {
                    let name = match node {
                        Node::String(text) | Node::Number(text) => text,
                        Node::Bool(flag) => flag.to_string(),
                        Node::Null => String::new(),
                        _ => return Err(error_at(&span, "a mapping key must be a plain string")),
                    };
                    if name == "<<" {
                        return Err(error_at(&span, "merge keys (<<) are not allowed in CloudFormation templates"));
                    }
                    if map.contains_key(&name) {
                        duplicates.push(format!(
                            "line {}: key \"{name}\" is given twice in one mapping; its last value counts, as CloudFormation takes it",
                            span.start.line()
                        ));
                    }
                    *key = Some(name);
                }
                Some(name) => {
                    map.insert(name, node);
                }
            },
        }
    }
    Ok((root.unwrap_or(Node::Null), duplicates))
}

fn push(stack: &mut Vec<Frame>, frame: Frame, span: &Span) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(error_at(span, format!("the document nests deeper than {MAX_DEPTH} levels")));
    }
    stack.push(frame);
    Ok(())
}

fn refuse_anchor(anchor: usize, span: &Span) -> Result<(), YamlError> {
    if anchor == 0 {
        Ok(())
    } else {
        Err(error_at(span, "anchors (&name) are not allowed in CloudFormation templates"))
    }
}

/// The intrinsic a local tag names (`!Sub` → `Sub`); core-schema tags (`!!str`) are allowed
/// and mean nothing more here, the YAML 1.1 types CloudFormation refuses are refused.
fn tag_name(tag: Option<&Tag>, span: &Span) -> Result<Option<String>, YamlError> {
    let Some(tag) = tag else { return Ok(None) };
    if tag.is_yaml_core_schema() {
        return match tag.suffix.as_str() {
            "str" | "int" | "float" | "bool" | "null" | "map" | "seq" => Ok(None),
            other => Err(error_at(span, format!("the !!{other} tag is not allowed in CloudFormation templates"))),
        };
    }
    if tag.handle == "!" && !tag.suffix.is_empty() {
        return Ok(Some(tag.suffix.clone()));
    }
    Err(error_at(span, format!("unknown tag {tag}")))
}

/// `!Ref x` → `{"Ref": "x"}`, `!GetAtt a.b.c` → `{"Fn::GetAtt": ["a", "b.c"]}` (split at the
/// first dot only), any other `!X v` → `{"Fn::X": v}`.
fn short_form(function: &str, value: Node) -> Node {
    let value = match (function, value) {
        ("GetAtt", Node::String(text)) => match text.split_once('.') {
            Some((resource, attribute)) => {
                Node::List(vec![Node::String(resource.to_string()), Node::String(attribute.to_string())])
            }
            None => Node::String(text),
        },
        (_, value) => value,
    };
    let key = match function {
        "Ref" | "Condition" => function.to_string(),
        other => format!("Fn::{other}"),
    };
    Node::Map(Map::from([(key, value)]))
}

fn tagged(tag: Option<String>, node: Node) -> Node {
    match tag {
        Some(function) => short_form(&function, node),
        None => node,
    }
}

/// A scalar's value: quoted, block and tagged scalars are strings; plain ones are typed as
/// YAML 1.1 (PyYAML's resolver, which CloudFormation's tooling uses).
fn scalar(value: &str, style: ScalarStyle, tagged: bool) -> Node {
    if tagged || style != ScalarStyle::Plain {
        return Node::String(value.to_string());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Node::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Node::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Node::Bool(false),
        _ if is_yaml11_number(value) => Node::Number(value.to_string()),
        _ => Node::String(value.to_string()),
    }
}

/// YAML 1.1 ints (decimal, `0b`, leading-0 octal, `0x`, sexagesimal) and floats
/// (`1.5`, `.5`, `1e+3` with a dot, `.inf`, `.nan`), `_` separators allowed.
fn is_yaml11_number(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c == '_' || c.is_digit(radix));
    if let Some(bin) = body.strip_prefix("0b") {
        return digits(bin, 2);
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return digits(hex, 16);
    }
    if body.contains(':') {
        // Sexagesimal: 190:20:30 (int) or 1:20.5 (float).
        let mut parts = body.split(':');
        let first = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let last_ok = |s: &str| {
            let (whole, _) = s.split_once('.').unwrap_or((s, ""));
            !whole.is_empty() && whole.len() <= 2 && whole.chars().all(|c| c.is_ascii_digit())
        };
        return first.starts_with(|c: char| c.is_ascii_digit() && c != '0')
            && digits(first, 10)
            && rest.iter().all(|s| last_ok(s));
    }
    match body.split_once('.') {
        None => digits(body, 10),
        Some((whole, fraction)) => {
            if !(whole.is_empty() || digits(whole, 10)) {
                return false;
            }
            let (fraction, exponent) = match fraction.find(['e', 'E']) {
                Some(at) => (&fraction[..at], Some(&fraction[at + 1..])),
                None => (fraction, None),
            };
            let fraction_ok = fraction.chars().all(|c| c == '_' || c.is_ascii_digit());
            let exponent_ok = exponent.is_none_or(|e| {
                e.strip_prefix(['-', '+']).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
            });
            fraction_ok && exponent_ok && !(whole.is_empty() && fraction.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Map {
        match read(text).unwrap() {
            Node::Map(map) => map,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn quoted_scalars_whose_lines_come_back_to_the_key_read_as_pyyaml_reads_them() {
        let m = map("a:\n  b: '{\n    \"x\": \"y\",\n\n    \"z\": \"it''s\"\n  }'\n  c: 1\n");
        let Node::Map(a) = &m["a"] else { panic!("{m:?}") };
        assert_eq!(a["b"], Node::String("{ \"x\": \"y\",\n\"z\": \"it's\" }".into()));
        assert_eq!(a["c"], Node::Number("1".into()));
        let m = map("a:\n  b: !Sub \"one\\\n two\n three\"\nc: 2\n");
        let Node::Map(a) = &m["a"] else { panic!("{m:?}") };
        assert_eq!(a["b"], Node::Map(Map::from([("Fn::Sub".to_string(), Node::String("onetwo three".into()))])));
        assert_eq!(m["c"], Node::Number("2".into()));
        // In a sequence entry, the key's column is past the `- `.
        let Node::List(items) = read("- k: 'a\n  b'\n- - j: \"c\n    d\"\n").unwrap() else { panic!() };
        assert_eq!(items[0].get("k"), Some(&Node::String("a b".into())));
        assert_eq!(items[1].as_list().unwrap()[0].get("j"), Some(&Node::String("c d".into())));
        // Lines are reported where the file has them.
        let error = read("a:\n  b: 'x\n y'\n  c: [\n").unwrap_err();
        assert_eq!(error.line, 5, "{error}");
        // A lone carriage return counts as a line break to the parser: no indenting again.
        assert!(read("a:\r  b: 'x\n y'\n").is_err());
    }

    #[test]
    fn indenting_again_is_bounded_whatever_the_text() {
        // Many empty lines in a scalar under a deep key: padding them all would grow the text
        // by their product; the parser's own error comes back instead, at once.
        let deep = 200_000;
        let text = format!("Resources:\n{}k: 'x{}'\n", " ".repeat(deep), "\n".repeat(deep));
        let started = std::time::Instant::now();
        let error = read(&text).unwrap_err();
        assert_eq!(error.message, QUOTED_SCALAR_INDENTATION);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn yaml_1_1_scalars() {
        let m = map("a: yes\nb: Off\nc: 'yes'\nd: 2012-10-17\ne: 1.0\nf: 0755\ng: ~\nh: 1.2.3\ni: y\nj: 60\n");
        assert_eq!(m["a"], Node::Bool(true));
        assert_eq!(m["b"], Node::Bool(false));
        assert_eq!(m["c"], Node::String("yes".into()));
        assert_eq!(m["d"], Node::String("2012-10-17".into()));
        assert_eq!(m["e"], Node::Number("1.0".into()));
        assert_eq!(m["f"], Node::Number("0755".into()));
        assert_eq!(m["g"], Node::Null);
        assert_eq!(m["h"], Node::String("1.2.3".into()));
        assert_eq!(m["i"], Node::String("y".into()));
        assert_eq!(m["j"], Node::Number("60".into()));
    }

    #[test]
    fn short_forms_become_long_forms() {
        let m = map(
            "a: !Ref Bucket\nb: !GetAtt Stack.Outputs.Url\nc: !Sub [\"${X}\", {X: !Ref Y}]\nd: !If [C, !Ref AWS::NoValue, x]\ne: !Condition IsProd\nf: !GetAZs ''\n",
        );
        assert_eq!(m["a"], Node::Map(Map::from([("Ref".into(), Node::String("Bucket".into()))])));
        let getatt = m["b"].get("Fn::GetAtt").unwrap().as_list().unwrap();
        assert_eq!(getatt, [Node::String("Stack".into()), Node::String("Outputs.Url".into())]);
        let sub = m["c"].get("Fn::Sub").unwrap().as_list().unwrap();
        assert_eq!(sub[1].get("X").unwrap().get("Ref"), Some(&Node::String("Y".into())));
        assert!(m["d"].get("Fn::If").is_some());
        assert_eq!(m["e"].get("Condition"), Some(&Node::String("IsProd".into())));
        assert_eq!(m["f"].get("Fn::GetAZs"), Some(&Node::String(String::new())));
    }

    #[test]
    fn block_scalars_keep_their_newline() {
        let m = map("a: !Sub |\n  [{\"name\": \"X\"}]\nb: |\n  line\n");
        assert_eq!(m["a"].get("Fn::Sub"), Some(&Node::String("[{\"name\": \"X\"}]\n".into())));
        assert_eq!(m["b"], Node::String("line\n".into()));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_refused() {
        let error = read("a: &x [1]\nb: *x\n").unwrap_err();
        assert!(error.message.contains("anchors"), "{error}");
        assert_eq!(error.line, 1);
        assert!(read("a: {x: 1}\nb:\n  <<: {y: 2}\n").unwrap_err().message.contains("merge keys"));
        let (node, notes) = read_noting("a: 1\nb: {c: 1}\na: 2\n").unwrap();
        assert_eq!(node.get("a"), Some(&Node::Number("2".into())), "the last value counts");
        assert_eq!(
            notes,
            ["line 3: key \"a\" is given twice in one mapping; its last value counts, as CloudFormation takes it"]
        );
        assert!(read("a: !!binary aGk=\n").is_err());
    }

    #[test]
    fn a_billion_laughs_is_refused_at_once() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let previous = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", [previous.as_str(); 9].join(", ")));
        }
        let started = std::time::Instant::now();
        assert!(read(&text).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let text = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(read(&text).is_err());
        let mut block = String::new();
        for depth in 0..2000 {
            block.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
        }
        let error = read(&block).unwrap_err();
        assert!(error.message.contains("deeper"), "{error}");
    }

    #[test]
    fn errors_carry_the_line() {
        let error = read("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(error.line >= 2, "{error}");
    }
}
