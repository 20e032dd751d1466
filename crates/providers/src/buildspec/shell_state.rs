//! The shell state a version 0.2 build carries from one command to the next
//! (docs/codebuild.md "Shell semantics"): every variable (exported or not), the working
//! directory and the shell options. Each command is its own script: a preamble restores the
//! state, the command runs verbatim, and an EXIT trap dumps the state again with builtins
//! only (`set`, `export -p`, `set +o`, `pwd`), so `exit 0` ends just that command and state
//! set before it is kept. This module writes the scripts and reads the dumps; both are pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Variables the shell maintains itself, never carried over.
const SHELL_OWNED: &[&str] = &[
    "_",
    "PPID",
    "PWD",
    "SHLVL",
    "OPTIND",
    "OPTERR",
    "LINENO",
    "RANDOM",
    "SRANDOM",
    "SECONDS",
    "EPOCHSECONDS",
    "EPOCHREALTIME",
    "HISTCMD",
    "UID",
    "EUID",
    "GROUPS",
    "SHELLOPTS",
    "BASHOPTS",
    "BASHPID",
    "IFS",
    "PS1",
    "PS2",
    "PS4",
    "HOSTNAME",
    "HOSTTYPE",
    "MACHTYPE",
    "OSTYPE",
    "DIRSTACK",
    "PIPESTATUS",
    "FUNCNAME",
    "COMP_WORDBREAKS",
    "COLUMNS",
    "LINES",
    "CODEBUILD_BUILD_SUCCEEDING",
];

fn carried(name: &str) -> bool {
    !(SHELL_OWNED.contains(&name) || name.starts_with("BASH") || name.starts_with("__pw_"))
}

/// What one command leaves for the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShellState {
    /// Exported variables: the next command's process environment.
    pub exported: BTreeMap<String, String>,
    /// Variables set but not exported.
    pub local: BTreeMap<String, String>,
    pub cwd: PathBuf,
    /// `set -o …`/`set +o …` lines.
    pub options: Vec<String>,
}

impl ShellState {
    pub fn new(environment: BTreeMap<String, String>, cwd: PathBuf) -> ShellState {
        ShellState { exported: environment, local: BTreeMap::new(), cwd, options: Vec::new() }
    }

    /// A variable's value, exported or not.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.exported.get(name).or_else(|| self.local.get(name))
    }
}

/// `'…'` quoting for a POSIX shell.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The paths an EXIT trap writes the state to.
#[derive(Debug, Clone)]
pub struct DumpFiles {
    pub variables: PathBuf,
    pub exports: PathBuf,
    pub options: PathBuf,
    pub cwd: PathBuf,
}

impl DumpFiles {
    pub fn under(dir: &Path) -> DumpFiles {
        DumpFiles {
            variables: dir.join("state.vars"),
            exports: dir.join("state.exports"),
            options: dir.join("state.options"),
            cwd: dir.join("state.cwd"),
        }
    }
}

/// The script of one command: restore `state` (0.2), dump the state on exit, run `command`.
/// With `restore` false (version 0.1) the command starts from the build's environment alone.
pub fn script(command: &str, state: &ShellState, dump: Option<&DumpFiles>) -> String {
    let mut text = String::new();
    for (name, value) in &state.local {
        text.push_str(&format!("{name}={}\n", quote(value)));
    }
    if let Some(dump) = dump {
        // The options are read before xtrace is turned off, so they carry `set -x` over;
        // the trap's own commands are not traced.
        text.push_str(&format!(
            "trap '__pw_status=$?; {{ set +o; set +xv; }} >{} 2>/dev/null; set >{}; export -p >{}; pwd >{}; exit $__pw_status' EXIT\n",
            quote(&dump.options.display().to_string()).replace('\'', "'\\''"),
            quote(&dump.variables.display().to_string()).replace('\'', "'\\''"),
            quote(&dump.exports.display().to_string()).replace('\'', "'\\''"),
            quote(&dump.cwd.display().to_string()).replace('\'', "'\\''"),
        ));
    }
    for option in &state.options {
        text.push_str(option);
        text.push('\n');
    }
    text.push_str(command);
    text.push('\n');
    text
}

/// Reads the dump of a finished command into the state the next one starts from. `None`
/// when the dump is missing or unreadable (the command replaced the shell or was killed):
/// the state before the command stands.
pub fn read_dump(variables: &str, exports: &str, options: &str, cwd: &str) -> Option<ShellState> {
    let all = parse_assignments(variables);
    let exported: BTreeMap<String, String> =
        parse_assignments(exports).into_iter().filter(|(name, _)| carried(name)).collect();
    let local = all.into_iter().filter(|(name, _)| carried(name) && !exported.contains_key(name)).collect();
    let cwd = cwd.strip_suffix('\n').unwrap_or(cwd);
    if cwd.is_empty() {
        return None;
    }
    let options = options
        .lines()
        .filter(|line| {
            let line = line.trim();
            (line.starts_with("set -o ") || line.starts_with("set +o "))
                && line[7..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // Only options that differ from a fresh shell's are replayed.
        .filter(|line| !matches!(line.trim(), l if DEFAULT_OPTIONS.contains(&l)))
        .map(|line| line.trim().to_string())
        .collect();
    Some(ShellState { exported, local, cwd: PathBuf::from(cwd), options })
}

/// Options a non-interactive shell starts with (dash and bash): replaying them is a no-op.
const DEFAULT_OPTIONS: &[&str] = &[
    "set +o allexport",
    "set -o braceexpand",
    "set +o emacs",
    "set +o errexit",
    "set +o errtrace",
    "set +o functrace",
    "set -o hashall",
    "set +o histexpand",
    "set +o history",
    "set +o ignoreeof",
    "set -o interactive-comments",
    "set +o keyword",
    "set +o monitor",
    "set +o noclobber",
    "set +o noexec",
    "set +o noglob",
    "set +o nolog",
    "set +o notify",
    "set +o nounset",
    "set +o onecmd",
    "set +o physical",
    "set +o pipefail",
    "set +o posix",
    "set +o privileged",
    "set +o verbose",
    "set +o vi",
    "set +o xtrace",
    "set +o interactive",
    "set +o stdin",
    "set +o debug",
];

/// `NAME=value` records of `set` or `export -p` (dash's `export NAME='v'`, bash's
/// `declare -x NAME="v"`), values unquoted. Arrays, names without a value, and whatever
/// follows the variables (bash prints functions) are skipped.
pub fn parse_assignments(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let line_end = bytes[i..].iter().position(|c| *c == '\n').map_or(bytes.len(), |p| i + p);
        let line: String = bytes[i..line_end].iter().collect();
        let mut start = i;
        if let Some(rest) = line.strip_prefix("export ") {
            start += line.len() - rest.len();
        } else if let Some(rest) = line.strip_prefix("declare ") {
            // `declare -x NAME="v"`: skip the flags word.
            let flags = rest.split(' ').next().unwrap_or_default();
            start += "declare ".len() + flags.len() + 1;
        }
        let name_end = bytes[start..line_end].iter().position(|c| *c == '=').map(|p| start + p);
        let Some(name_end) = name_end else {
            // `declare -x NAME` (exported, no value), or the end of the variables.
            let name: String = bytes[start.min(line_end)..line_end].iter().collect();
            if is_name(&name) {
                i = line_end + 1;
                continue;
            }
            break;
        };
        let name: String = bytes[start..name_end].iter().collect();
        if !is_name(&name) {
            break;
        }
        let (value, end) = read_value(&bytes, name_end + 1);
        if let Some(value) = value {
            out.push((name, value));
        }
        i = end + 1;
    }
    out
}

/// Reads one shell word starting at `start`, up to an unquoted newline; returns its value
/// (`None` for an array) and the index of the newline.
fn read_value(chars: &[char], start: usize) -> (Option<String>, usize) {
    let mut value = String::new();
    let mut i = start;
    if chars.get(i) == Some(&'(') {
        // An array: skip to the closing parenthesis outside quotes.
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some('"') if c == '\\' => i += 1,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '\n' => break,
                None => {}
            }
            i += 1;
        }
        return (None, i);
    }
    while i < chars.len() {
        match chars[i] {
            '\n' => break,
            '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    value.push(chars[i]);
                    i += 1;
                }
            }
            '$' if chars.get(i + 1) == Some(&'\'') => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                        i = ansi_c_escape(chars, i, &mut value);
                        continue;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && matches!(chars.get(i + 1), Some('$' | '`' | '"' | '\\' | '\n')) {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                value.push(chars[i]);
            }
            c => value.push(c),
        }
        i += 1;
    }
    (Some(value), i)
}

/// One `$'…'` escape starting at `i` (just after the backslash); returns the next index.
fn ansi_c_escape(chars: &[char], i: usize, out: &mut String) -> usize {
    let simple = match chars[i] {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'e' | 'E' => Some('\x1b'),
        'f' => Some('\x0c'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' => Some('\''),
        '"' => Some('"'),
        '?' => Some('?'),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return i + 1;
    }
    let (radix, skip, max) = match chars[i] {
        'x' => (16, 1, 2),
        'u' => (16, 1, 4),
        'U' => (16, 1, 8),
        '0'..='7' => (8, 0, 3),
        _ => {
            out.push('\\');
            out.push(chars[i]);
            return i + 1;
        }
    };
    let digits: String = chars[i + skip..].iter().take(max).take_while(|c| c.is_digit(radix)).collect();
    match u32::from_str_radix(&digits, radix).ok().and_then(char::from_u32) {
        Some(c) => out.push(c),
        None => {
            out.push('\\');
            out.push(chars[i]);
            return i + 1;
        }
    }
    i + skip + digits.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_set_output_with_multi_line_and_quoted_values() {
        let text = "BAR='line1\nline2 '\"'\"'q'\"'\"' $x'\nEXP='e\"x\ny'\nFOO='a b'\nIFS=' \t\n'\nPPID='31469'\n";
        let vars = parse_assignments(text);
        assert_eq!(
            vars,
            [
                ("BAR".to_string(), "line1\nline2 'q' $x".to_string()),
                ("EXP".to_string(), "e\"x\ny".to_string()),
                ("FOO".to_string(), "a b".to_string()),
                ("IFS".to_string(), " \t\n".to_string()),
                ("PPID".to_string(), "31469".to_string()),
            ]
        );
    }

    #[test]
    fn bash_set_output_with_ansi_c_quoting_arrays_and_functions() {
        let text = "BAR=$'line1\\nline2 \\'q\\' $x'\nDIRSTACK=()\nPIPESTATUS=([0]=\"0\" [1]=\")\")\nPLAIN=/usr/bin\nU=$'\\u00e9\\x41\\101'\nf () \n{ \n    echo X=1\n}\n";
        let vars = parse_assignments(text);
        assert_eq!(
            vars,
            [
                ("BAR".to_string(), "line1\nline2 'q' $x".to_string()),
                ("PLAIN".to_string(), "/usr/bin".to_string()),
                ("U".to_string(), "éAA".to_string()),
            ]
        );
    }

    #[test]
    fn export_p_of_dash_and_bash() {
        let dash = "export A='1'\nexport B='x\ny'\nexport UNSET\n";
        assert_eq!(parse_assignments(dash), [("A".into(), "1".into()), ("B".into(), "x\ny".into())]);
        let bash =
            "declare -x A=\"1\"\ndeclare -rx B=\"q\\\"\\$x\\\\\"\ndeclare -x UNSET\ndeclare -x C=\"multi\nline\"\n";
        assert_eq!(
            parse_assignments(bash),
            [("A".into(), "1".into()), ("B".into(), "q\"$x\\".into()), ("C".into(), "multi\nline".into())]
        );
    }

    #[test]
    fn a_dump_keeps_user_variables_and_drops_the_shells_own() {
        let state = read_dump(
            "HOME='/root'\nCOMMIT='abc'\nPPID='1'\n__pw_status='0'\nIFS=' '\n",
            "export HOME='/root'\nexport SHLVL='1'\n",
            "set -o errexit\nset +o xtrace\nset -o hashall\n",
            "/work/src/sub\n",
        )
        .unwrap();
        assert_eq!(state.exported, BTreeMap::from([("HOME".to_string(), "/root".to_string())]));
        assert_eq!(state.local, BTreeMap::from([("COMMIT".to_string(), "abc".to_string())]));
        assert_eq!(state.cwd, PathBuf::from("/work/src/sub"));
        assert_eq!(state.options, ["set -o errexit"]);
        assert_eq!(read_dump("", "", "", ""), None, "no dump: the earlier state stands");
    }

    #[test]
    fn the_script_restores_then_traps_then_runs_the_command_verbatim() {
        let mut state = ShellState::new(BTreeMap::new(), PathBuf::from("/w"));
        state.local.insert("TAG".into(), "it's".into());
        state.options.push("set -o errexit".into());
        let dump = DumpFiles::under(Path::new("/tmp/x y"));
        let text = script("exit 0", &state, Some(&dump));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "TAG='it'\\''s'");
        assert!(lines[1].starts_with("trap '__pw_status=$?;") && lines[1].contains("/tmp/x y/state.vars"));
        assert_eq!(&lines[2..], ["set -o errexit", "exit 0"]);
        assert!(!script("true", &state, None).contains("trap"));
    }
}
