//! Parsing the command line: clap, with German help and German usage errors.
//!
//! clap writes its own parts in English: the section headings, the help and version flags, the
//! notes on defaults, environment variables and possible values, `[OPTIONS]` in the usage line,
//! and every error message. Here the command gets German texts wherever clap takes them (a help
//! template per command, own `-h`/`-V` flags, the notes written into each argument's help, the
//! usage line set per command), and clap's errors are written anew from their context (kind,
//! argument, value, suggestions), so that no English reaches the person at the terminal.
//!
//! Exit codes (README "Exit codes"): help and version 0 on stdout; a usage error (unknown flag,
//! missing argument, unknown command) 2; a bad value for a flag 1 (docs/decisions.md, issue 12).

use std::ffi::OsString;
use std::fmt::Write as _;

use clap::builder::{Arg, ArgAction, Command, PossibleValue};
use clap::error::{ContextKind, ContextValue, Error, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

use super::{Cli, EXIT_CONFIG, EXIT_FAILED};

const BIN: &str = "krm-intake";

/// Why parsing yielded no command.
#[derive(Debug)]
pub enum Stop {
    /// Help or version asked for (exit 0, stdout), or help shown because a command was missing
    /// (exit 2, stderr): clap prints its rendering, which is German by the templates here.
    Help(Error),
    /// A German message for stderr, ending in a hint line, and the exit code.
    Failed { text: String, code: u8 },
}

impl Stop {
    pub fn exit_code(&self) -> u8 {
        match self {
            Stop::Help(e) if e.use_stderr() => EXIT_CONFIG,
            Stop::Help(_) => 0,
            Stop::Failed { code, .. } => *code,
        }
    }
}

/// Parses `args` (the program name first) into a [`Cli`].
pub fn parse_from<I, T>(args: I) -> Result<Cli, Stop>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args = help_word(args.into_iter().map(Into::into).collect());
    let mut cmd = command();
    let parsed = cmd
        .try_get_matches_from_mut(args.iter().cloned())
        .and_then(|m| Cli::from_arg_matches(&m));
    parsed.map_err(|e| stop(&cmd, e, &args))
}

/// `krm-intake help [BEFEHL …]` as before clap's English help command was switched off: the same
/// as `krm-intake [BEFEHL …] --help`.
fn help_word(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.get(1).is_some_and(|a| a == "help") {
        args.remove(1);
        args.push("--help".into());
    }
    args
}

/// The command line as parsed, with German texts throughout.
pub fn command() -> Command {
    let mut cmd = german(Cli::command())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .global(true)
                .action(ArgAction::Help)
                .help("Hilfe anzeigen")
                .display_order(999),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Version anzeigen")
                .display_order(999),
        );
    cmd.build();
    german_usage(&mut cmd);
    cmd
}

/// Headings, the `<BEFEHL>` placeholder and each argument's notes, for `cmd` and below it.
fn german(cmd: Command) -> Command {
    let template = help_template(&cmd);
    let cmd = if cmd.has_subcommands() {
        cmd.subcommand_value_name("BEFEHL")
    } else {
        cmd
    };
    cmd.help_template(template)
        .mut_args(german_arg)
        .mut_subcommands(german)
}

/// clap's default layout with German headings; a section only where the command has entries
/// (the options are never empty: `--config` and `--help` are global).
fn help_template(cmd: &Command) -> String {
    let styles = cmd.get_styles();
    let heading = |name: &str| {
        let h = styles.get_header();
        format!("{}{name}:{}", h.render(), h.render_reset())
    };
    let usage = styles.get_usage();
    let mut t = format!(
        "{{before-help}}{{about-with-newline}}\n{}Aufruf:{} {{usage}}",
        usage.render(),
        usage.render_reset()
    );
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        let _ = write!(t, "\n\n{}\n{{subcommands}}", heading("Befehle"));
    }
    if cmd.get_positionals().any(|a| !a.is_hide_set()) {
        let _ = write!(t, "\n\n{}\n{{positionals}}", heading("Argumente"));
    }
    let _ = write!(t, "\n\n{}\n{{options}}{{after-help}}", heading("Optionen"));
    t
}

/// clap's notes on an argument (`[env: …]`, `[default: …]`, `[possible values: …]` and the long
/// list "Possible values:") are English and cannot be worded otherwise: they are switched off and
/// written into the argument's own help in German instead.
fn german_arg(mut arg: Arg) -> Arg {
    let mut notes = Vec::new();
    if let Some(env) = arg.get_env() {
        if !arg.is_hide_env_set() {
            notes.push(format!("[Umgebung: {}]", env.to_string_lossy()));
            arg = arg.hide_env(true);
        }
    }
    let takes_value = arg.get_action().takes_values();
    if takes_value && !arg.is_hide_default_value_set() && !arg.get_default_values().is_empty() {
        let values: Vec<_> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy())
            .collect();
        notes.push(format!("[Vorgabe: {}]", values.join(" ")));
        arg = arg.hide_default_value(true);
    }
    let values: Vec<PossibleValue> = if takes_value && !arg.is_hide_possible_values_set() {
        arg.get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect()
    } else {
        Vec::new()
    };
    // The long help lists values that have their own help, one a line, as clap does.
    let mut value_list = None;
    if !values.is_empty() {
        let names: Vec<&str> = values.iter().map(PossibleValue::get_name).collect();
        notes.push(format!("[mögliche Werte: {}]", names.join(", ")));
        if values.iter().any(|v| v.get_help().is_some()) {
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            let mut list = String::from("Mögliche Werte:");
            for v in &values {
                let name = v.get_name();
                let help = v.get_help().map(ToString::to_string).unwrap_or_default();
                let pad = width - name.chars().count();
                let _ = write!(list, "\n- {name}: {:pad$}{help}", "");
            }
            value_list = Some(list);
        }
        arg = arg.hide_possible_values(true);
    }
    if notes.is_empty() {
        return arg;
    }
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    let long = arg.get_long_help().map(ToString::to_string);
    let joined = |text: &str, sep: &str, more: &[String]| {
        let mut parts: Vec<&str> = Vec::new();
        if !text.is_empty() {
            parts.push(text);
        }
        parts.extend(more.iter().map(String::as_str));
        parts.join(sep)
    };
    let short = joined(&help, " ", &notes);
    if long.is_some() || value_list.is_some() {
        let mut more: Vec<String> = notes
            .iter()
            .filter(|n| value_list.is_none() || !n.starts_with("[mögliche Werte"))
            .cloned()
            .collect();
        more.extend(value_list);
        let long = joined(long.as_deref().unwrap_or(&help), "\n\n", &more);
        arg = arg.long_help(long);
    }
    arg.help(short)
}

/// The usage line of each command with `[OPTIONEN]` (clap writes `[OPTIONS]` and has no
/// setting for it); set once the command is built, when clap can render it.
fn german_usage(cmd: &mut Command) {
    let usage = cmd.render_usage().to_string();
    let usage = german_usage_text(&usage);
    *cmd = std::mem::take(cmd).override_usage(usage);
    for sub in cmd.get_subcommands_mut() {
        german_usage(sub);
    }
}

fn german_usage_text(usage: &str) -> String {
    let usage = usage.trim();
    let usage = usage.strip_prefix("Usage:").unwrap_or(usage).trim_start();
    usage.replace("[OPTIONS]", "[OPTIONEN]")
}

/// What to print for a clap error: clap's help as it is (German by the template), everything else
/// as one German line and hint lines.
fn stop(cmd: &Command, e: Error, args: &[OsString]) -> Stop {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => return Stop::Help(e),
        _ => {}
    }
    let (line, code) = message(&e);
    let mut text = format!("{BIN}: {line}\n");
    if code == EXIT_CONFIG {
        if let Some(usage) = e.get(ContextKind::Usage) {
            let _ = writeln!(text, "Aufruf: {}", german_usage_text(&usage.to_string()));
        }
    }
    let _ = writeln!(text, "Hilfe: {} --help", command_path(cmd, args));
    Stop::Failed { text, code }
}

/// `krm-intake case list`: the program and the commands named in `args`, for the hint line.
fn command_path(cmd: &Command, args: &[OsString]) -> String {
    let mut path = vec![BIN.to_string()];
    let mut at = cmd;
    for a in args.iter().skip(1) {
        if a == "--" {
            break;
        }
        if let Some(sub) = a.to_str().and_then(|a| at.find_subcommand(a)) {
            path.push(sub.get_name().to_string());
            at = sub;
        }
    }
    path.join(" ")
}

/// The German line for an error, and its exit code: 2 for a command line a person must write
/// differently, 1 for a bad value (as before: docs/decisions.md, "Exit codes").
fn message(e: &Error) -> (String, u8) {
    let one = |k| e.get(k).map(ToString::to_string).unwrap_or_default();
    let arg = || flag(&one(ContextKind::InvalidArg));
    let mut line = match e.kind() {
        ErrorKind::UnknownArgument => {
            let given = one(ContextKind::InvalidArg);
            let mut m = if given.starts_with('-') {
                format!("unbekannte Option „{given}“")
            } else {
                format!("unerwartetes Argument „{given}“")
            };
            if let Some(s) = e.get(ContextKind::SuggestedArg) {
                let _ = write!(m, " (meinten Sie „{s}“?)");
            }
            m
        }
        ErrorKind::InvalidSubcommand => {
            let mut m = format!(
                "unbekannter Befehl „{}“",
                one(ContextKind::InvalidSubcommand)
            );
            let suggested = strings(e.get(ContextKind::SuggestedSubcommand));
            if !suggested.is_empty() {
                let _ = write!(m, " (meinten Sie {}?)", quoted_or(&suggested));
            }
            m
        }
        ErrorKind::MissingSubcommand => {
            let valid = strings(e.get(ContextKind::ValidSubcommand));
            format!(
                "„{}“ braucht einen Befehl: {}",
                one(ContextKind::InvalidSubcommand),
                valid.join(", ")
            )
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = strings(e.get(ContextKind::InvalidArg));
            let what = if missing.len() == 1 {
                "es fehlt"
            } else {
                "es fehlen"
            };
            format!("{what}: {}", missing.join(", "))
        }
        ErrorKind::ArgumentConflict => {
            let this = match e.get(ContextKind::InvalidSubcommand) {
                Some(sub) => sub.to_string(),
                None => arg(),
            };
            let prior: Vec<String> = strings(e.get(ContextKind::PriorArg))
                .iter()
                .map(|p| flag(p))
                .collect();
            if prior.is_empty() {
                format!("„{this}“ lässt sich hier nicht angeben")
            } else if prior == [this.clone()] {
                format!("„{this}“ darf nur einmal angegeben werden")
            } else {
                format!(
                    "„{this}“ lässt sich nicht zusammen mit {} angeben",
                    quoted_and(&prior)
                )
            }
        }
        ErrorKind::NoEquals => {
            let a = arg();
            format!("„{a}“ braucht den Wert mit Gleichheitszeichen: {a}=WERT")
        }
        ErrorKind::TooManyValues => format!(
            "„{}“ ist ein Wert zu viel für „{}“",
            one(ContextKind::InvalidValue),
            arg()
        ),
        ErrorKind::TooFewValues => format!(
            "„{}“ braucht mindestens {} Werte, angegeben: {}",
            arg(),
            one(ContextKind::MinValues),
            one(ContextKind::ActualNumValues)
        ),
        ErrorKind::WrongNumberOfValues => format!(
            "„{}“ braucht {} Werte, angegeben: {}",
            arg(),
            one(ContextKind::ExpectedNumValues),
            one(ContextKind::ActualNumValues)
        ),
        ErrorKind::InvalidUtf8 => "ein Argument ist kein gültiger Text (UTF-8)".to_string(),
        ErrorKind::InvalidValue => {
            let value = one(ContextKind::InvalidValue);
            let valid = strings(e.get(ContextKind::ValidValue));
            let mut m = if value.is_empty() {
                format!("„{}“ braucht einen Wert", arg())
            } else {
                format!("ungültiger Wert „{value}“ für „{}“", arg())
            };
            if !valid.is_empty() {
                let _ = write!(m, "; möglich: {}", valid.join(", "));
            }
            if let Some(s) = e.get(ContextKind::SuggestedValue) {
                let _ = write!(m, " (meinten Sie „{s}“?)");
            }
            return (m, EXIT_FAILED);
        }
        ErrorKind::ValueValidation => {
            let value = one(ContextKind::InvalidValue);
            let why = std::error::Error::source(e)
                .map(|s| value_fault(s, &value))
                .unwrap_or_else(|| format!("„{value}“ ist nicht gültig"));
            return (
                format!("ungültiger Wert für „{}“: {why}", arg()),
                EXIT_FAILED,
            );
        }
        _ => "der Aufruf ist ungültig".to_string(),
    };
    for hint in strings(e.get(ContextKind::Suggested)) {
        if let Some(h) = suggestion(&hint) {
            let _ = write!(line, "; {h}");
        }
    }
    (line, EXIT_CONFIG)
}

/// `--due-within` for `--due-within <N>` (an option as clap names it in errors); a positional
/// (`<NUMMER>`) stays as it is.
fn flag(arg: &str) -> String {
    if arg.starts_with('-') {
        arg.split_whitespace().next().unwrap_or(arg).to_string()
    } else {
        arg.to_string()
    }
}

fn strings(v: Option<&ContextValue>) -> Vec<String> {
    match v {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect(),
        Some(ContextValue::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn quoted(items: &[String]) -> Vec<String> {
    items.iter().map(|s| format!("„{s}“")).collect()
}

fn quoted_or(items: &[String]) -> String {
    quoted(items).join(" oder ")
}

fn quoted_and(items: &[String]) -> String {
    quoted(items).join(" und ")
}

/// clap's English suggestions, said in German (the ones clap 4 writes; any other is left out
/// rather than shown in English).
fn suggestion(hint: &str) -> Option<String> {
    let q: Vec<&str> = hint.split('\'').skip(1).step_by(2).collect();
    if hint.starts_with("to pass '") && q.len() == 2 {
        Some(format!("„{}“ als Wert: „{}“", q[0], q[1]))
    } else if hint.starts_with("subcommand '") && q.len() == 2 {
        Some(format!(
            "den Befehl „{}“ gibt es, dafür „--“ davor weglassen",
            q[0]
        ))
    } else if hint.ends_with("' exists") && q.len() == 1 {
        Some(format!("„{}“ gibt es", q[0]))
    } else {
        None
    }
}

/// Why a value was refused, in German: the number parsers' English texts translated, the
/// project's own parsers' texts (German already) as they are.
fn value_fault(source: &(dyn std::error::Error + 'static), value: &str) -> String {
    use std::num::IntErrorKind;
    if let Some(e) = source.downcast_ref::<std::num::ParseIntError>() {
        return match e.kind() {
            IntErrorKind::Empty => "kein Wert angegeben".to_string(),
            IntErrorKind::PosOverflow => format!("„{value}“ ist zu groß"),
            IntErrorKind::NegOverflow => format!("„{value}“ ist zu klein"),
            _ => format!("„{value}“ ist keine ganze Zahl"),
        };
    }
    if source.downcast_ref::<std::num::ParseFloatError>().is_some() {
        return format!("„{value}“ ist keine Zahl");
    }
    if source.downcast_ref::<std::num::TryFromIntError>().is_some() {
        return format!("„{value}“ liegt außerhalb des erlaubten Bereichs");
    }
    let text = source.to_string();
    // clap's range check: "100000000000 is not in 0..=4294967295".
    if let Some((_, range)) = text.split_once(" is not in ") {
        let range = match range.split_once("..=") {
            Some((lo, hi)) => format!("{lo} bis {hi}"),
            None => range.replace("..", " bis unter "),
        };
        return format!("„{value}“ liegt nicht im Bereich {range}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(args: &[&str]) -> (String, u8) {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        match parse_from(argv) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(Stop::Failed { text, code }) => (text, code),
            Err(Stop::Help(e)) => panic!("{args:?}: help shown: {}", e.render()),
        }
    }

    fn help(args: &[&str]) -> (String, u8) {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        match parse_from(argv) {
            Err(stop @ Stop::Help(_)) => {
                let code = stop.exit_code();
                let Stop::Help(e) = stop else { unreachable!() };
                (e.render().to_string(), code)
            }
            Ok(_) => panic!("{args:?} parsed"),
            Err(Stop::Failed { text, .. }) => panic!("{args:?}: {text}"),
        }
    }

    /// Words of clap's English that must not reach a person.
    const ENGLISH: [&str; 14] = [
        "error:",
        "Usage:",
        "Options:",
        "Arguments:",
        "Commands:",
        "Print help",
        "Print version",
        "Print this message",
        "[OPTIONS]",
        "<COMMAND>",
        "[default:",
        "[env:",
        "possible values",
        "Possible values",
    ];

    fn assert_german(text: &str) {
        for word in ENGLISH {
            assert!(!text.contains(word), "{word:?} in:\n{text}");
        }
        for word in [
            " found",
            " not provided",
            "invalid digit",
            " is not in ",
            "try '",
        ] {
            assert!(!text.contains(word), "{word:?} in:\n{text}");
        }
    }

    fn all_paths(cmd: &Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            all_paths(sub, p, out);
        }
    }

    #[test]
    fn every_help_text_is_german() {
        let mut paths = Vec::new();
        all_paths(&command(), Vec::new(), &mut paths);
        assert!(paths.len() > 30, "{paths:?}");
        for path in paths {
            for flag in ["-h", "--help"] {
                let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
                args.push(flag);
                let (text, code) = help(&args);
                assert_eq!(code, 0, "{args:?}");
                assert_german(&text);
                assert!(text.contains("Aufruf: krm-intake"), "{text}");
                assert!(text.contains("Optionen:"), "{text}");
                assert!(text.contains("-h, --help") && text.contains("Hilfe anzeigen"));
            }
        }
    }

    #[test]
    fn the_root_help_lists_commands_under_german_headings() {
        let (text, code) = help(&["--help"]);
        assert_eq!(code, 0);
        assert!(
            text.contains("Aufruf: krm-intake [OPTIONEN] <BEFEHL>"),
            "{text}"
        );
        assert!(text.contains("\nBefehle:\n") && text.contains("Den Dienst starten"));
        assert!(text.contains("-V, --version") && text.contains("Version anzeigen"));
        assert!(text.contains("[Umgebung: KRM_CONFIG]"), "{text}");
        // `help` as a word still shows help, as clap's help command did.
        assert_eq!(help(&["help"]), (text, 0));
        let (case, _) = help(&["help", "case", "list"]);
        assert!(
            case.contains("Aufruf: krm-intake case list [OPTIONEN]"),
            "{case}"
        );
    }

    #[test]
    fn role_values_are_explained_in_german() {
        let (text, _) = help(&["user", "add", "--help"]);
        assert!(text.contains("Mögliche Werte:"), "{text}");
        assert!(text.contains("- sachbearbeitung:"), "{text}");
        assert!(!text.contains("Works cases") && !text.contains("Manages accounts"));
        let (short, _) = help(&["user", "add", "-h"]);
        assert!(
            short.contains("[mögliche Werte: sachbearbeitung, leitung, admin, datenschutz]"),
            "{short}"
        );
        let (report, _) = help(&["report", "-h"]);
        assert!(report.contains("[Vorgabe: text]"), "{report}");
    }

    #[test]
    fn a_missing_command_shows_the_german_help_with_exit_2() {
        let (text, code) = help(&[]);
        assert_eq!(code, 2);
        assert!(text.contains("Befehle:"), "{text}");
        let (text, code) = help(&["case"]);
        assert_eq!(code, 2);
        assert!(
            text.contains("Aufruf: krm-intake case [OPTIONEN] <BEFEHL>"),
            "{text}"
        );
        assert_german(&text);
    }

    #[test]
    fn the_version_is_printed() {
        let (text, code) = help(&["--version"]);
        assert_eq!(code, 0);
        assert!(text.starts_with("krm-intake "), "{text}");
    }

    #[test]
    fn an_unknown_flag_is_named_with_a_suggestion() {
        let (text, code) = fails(&["case", "show", "KRM-2026-00001", "--bdy"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: unbekannte Option „--bdy“ (meinten Sie „--body“?)\n"),
            "{text}"
        );
        assert!(
            text.contains("\nAufruf: krm-intake case show [OPTIONEN] <NUMMER>\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\nHilfe: krm-intake case show --help\n"),
            "{text}"
        );
        assert_german(&text);
        let (text, code) = fails(&["case", "list", "--bogus"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: unbekannte Option „--bogus“\n"),
            "{text}"
        );
        let (text, _) = fails(&["case", "show", "KRM-2026-00001", "zwei"]);
        assert!(
            text.starts_with("krm-intake: unerwartetes Argument „zwei“"),
            "{text}"
        );
        assert_german(&text);
    }

    #[test]
    fn a_missing_argument_is_named() {
        let (text, code) = fails(&["case", "show"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: es fehlt: <NUMMER>\n"),
            "{text}"
        );
        assert_german(&text);
        let (text, code) = fails(&["user", "add"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: es fehlen: --role <ROLLE>, <NAME>\n"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_command_is_named_with_a_suggestion() {
        let (text, code) = fails(&["cas", "list"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: unbekannter Befehl „cas“ (meinten Sie „case“?)\n"),
            "{text}"
        );
        assert!(text.ends_with("Hilfe: krm-intake --help\n"), "{text}");
        let (text, _) = fails(&["case", "lst"]);
        assert!(text.contains("meinten Sie „list“?"), "{text}");
        assert!(text.ends_with("Hilfe: krm-intake case --help\n"), "{text}");
        assert_german(&text);
    }

    #[test]
    fn a_bad_number_is_said_in_german_with_exit_1() {
        let (text, code) = fails(&["case", "list", "--due-within", "abc"]);
        assert_eq!(code, EXIT_FAILED);
        assert_eq!(
            text,
            "krm-intake: ungültiger Wert für „--due-within“: „abc“ ist keine ganze Zahl\n\
             Hilfe: krm-intake case list --help\n"
        );
        let (text, _) = fails(&["case", "list", "--due-within", "100000000000"]);
        assert!(
            text.contains("„100000000000“ liegt nicht im Bereich 0 bis 366"),
            "{text}"
        );
        let (text, _) = fails(&["case", "list", "--due-within", "99999999999999999999"]);
        assert!(
            text.contains("„99999999999999999999“ ist zu groß"),
            "{text}"
        );
        // A negative number is a value, not an unknown option.
        let (text, _) = fails(&["case", "list", "--due-within", "-1"]);
        assert!(
            text.contains("„-1“ liegt nicht im Bereich 0 bis 366"),
            "{text}"
        );
        assert_german(&text);
        // The project's own parsers speak German already.
        let (text, code) = fails(&["case", "list", "--from", "25.11.2026"]);
        assert_eq!(code, EXIT_FAILED);
        assert!(
            text.starts_with(
                "krm-intake: ungültiger Wert für „--from“: „25.11.2026“ ist kein Datum (JJJJ-MM-TT)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_value_outside_a_list_names_the_list() {
        let (text, code) = fails(&["user", "add", "erika", "--role", "leitng"]);
        assert_eq!(code, EXIT_FAILED);
        assert!(
            text.starts_with(
                "krm-intake: ungültiger Wert „leitng“ für „--role“; möglich: sachbearbeitung, \
                 leitung, admin, datenschutz (meinten Sie „leitung“?)\n"
            ),
            "{text}"
        );
        assert_german(&text);
    }

    #[test]
    fn conflicting_flags_are_named() {
        let (text, code) = fails(&["case", "list", "--open", "--status", "closed"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with(
                "krm-intake: „--open“ lässt sich nicht zusammen mit „--status“ angeben\n"
            ),
            "{text}"
        );
        assert_german(&text);
        let (text, code) = fails(&["case", "list", "--open", "--open"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(
            text.starts_with("krm-intake: „--open“ darf nur einmal angegeben werden\n"),
            "{text}"
        );
    }

    #[test]
    fn a_value_that_looks_like_a_flag_gets_the_double_dash_hint() {
        let (text, code) = fails(&["case", "note", "KRM-2026-00001", "-x"]);
        assert_eq!(code, EXIT_CONFIG);
        assert!(text.contains("„-x“ als Wert: „-- -x“"), "{text}");
        assert_german(&text);
    }

    #[test]
    fn english_number_faults_are_translated() {
        let e = "x".parse::<u32>().unwrap_err();
        assert_eq!(value_fault(&e, "x"), "„x“ ist keine ganze Zahl");
        let e = "".parse::<u32>().unwrap_err();
        assert_eq!(value_fault(&e, ""), "kein Wert angegeben");
        let e: Box<dyn std::error::Error + Send + Sync> = "7 is not in 1..5".into();
        assert_eq!(
            value_fault(e.as_ref(), "7"),
            "„7“ liegt nicht im Bereich 1 bis unter 5"
        );
    }

    /// Value names are what a person reads in the usage line: German, not clap's default (the
    /// field's name in capitals), unless the word is the same in both languages.
    const SAME_IN_GERMAN: [&str; 6] = ["NAME", "TEXT", "ID", "STATUS", "FORMAT", "ORGANISATION"];

    #[test]
    fn value_names_are_german() {
        fn walk(cmd: &Command, bad: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if !a.get_action().takes_values() {
                    continue;
                }
                let default = a.get_id().as_str().to_uppercase();
                let names = a.get_value_names().unwrap_or_default();
                if names
                    .iter()
                    .any(|n| *n == default && !SAME_IN_GERMAN.contains(&n.as_str()))
                {
                    bad.push(format!("{} {default}", cmd.get_name()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, bad);
            }
        }
        let mut bad = Vec::new();
        walk(&command(), &mut bad);
        assert!(bad.is_empty(), "English value names: {bad:?}");
    }
}
