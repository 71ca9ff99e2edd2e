//! The `:` command line: what each command is, parsing, and Tab completion.

use super::view::{GroupBy, SortBy};
use crate::domain::{CaseRef, ProviderId};

#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Open(CaseRef),
    Filter(String),
    Sort(SortBy),
    Group(Option<GroupBy>),
    Mask,
    Shades,
    ReadOnly,
    Help,
    Outbox,
    Quit,
}

/// Every command with its arguments and what it does; the help lists these.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("open", "PROVIDER ID", "fetch one case by its id into the queue and open it"),
    ("filter", "TEXT", "filter the queue (as / does); no text clears it"),
    ("sort", "age|provider|check|why", "order within each lane"),
    ("group", "why|provider|check|off", "separate like with like, with a count per group"),
    ("mask", "", "mask or unmask personal data"),
    ("shades", "", "without colours (NO_COLOR): images in shades of grey, or placeholders again"),
    ("readonly", "", "turn decisions off for this session"),
    ("outbox", "", "decisions and their delivery: retry or drop"),
    ("help", "", "the keys and these commands"),
    ("q", "", "quit"),
];

pub fn parse(line: &str) -> Result<Typed, String> {
    let line = line.trim().trim_start_matches(':');
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let names = || COMMANDS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ");
    let unknown_arg = |what: &str, allowed: &str| format!("{what} takes one of {allowed}, not '{rest}'");
    match name {
        "open" => {
            let mut words = rest.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(p), Some(id), None) => {
                    let provider: ProviderId = p.parse().map_err(|e: crate::domain::RefError| e.to_string())?;
                    format!("{provider}:{id}").parse::<CaseRef>().map(Typed::Open).map_err(|e| e.to_string())
                }
                _ => Err("usage: :open PROVIDER ID (e.g. :open complycube 5f1a…)".into()),
            }
        }
        "filter" => Ok(Typed::Filter(rest.to_string())),
        "sort" => SortBy::ALL
            .into_iter()
            .find(|s| s.name() == rest)
            .map(Typed::Sort)
            .ok_or_else(|| unknown_arg(":sort", "age, provider, check, why")),
        "group" if rest == "off" || rest.is_empty() => Ok(Typed::Group(None)),
        "group" => GroupBy::ALL
            .into_iter()
            .find(|g| g.name() == rest)
            .map(|g| Typed::Group(Some(g)))
            .ok_or_else(|| unknown_arg(":group", "why, provider, check, off")),
        "mask" => Ok(Typed::Mask),
        "shades" => Ok(Typed::Shades),
        "readonly" | "read-only" => Ok(Typed::ReadOnly),
        "help" => Ok(Typed::Help),
        "outbox" => Ok(Typed::Outbox),
        "q" | "quit" => Ok(Typed::Quit),
        "" => Err(format!("type a command: {}", names())),
        other => Err(format!("unknown command ':{}' (commands: {})", crate::domain::sanitize(other), names())),
    }
}

/// What the word being typed can become.
pub fn candidates(line: &str) -> Vec<String> {
    let (name, rest) = match line.split_once(' ') {
        Some((n, r)) => (n, Some(r)),
        None => (line, None),
    };
    let candidates: Vec<String> = match rest {
        None => COMMANDS.iter().map(|(n, _, _)| n.to_string()).filter(|n| n.starts_with(name)).collect(),
        Some(arg) if !arg.contains(' ') => {
            let options: Vec<&str> = match name {
                "sort" => SortBy::ALL.iter().map(|s| s.name()).collect(),
                "group" => GroupBy::ALL.iter().map(|g| g.name()).chain(["off"]).collect(),
                "open" => ProviderId::ALL.iter().map(|p| p.as_str()).collect(),
                _ => vec![],
            };
            options.into_iter().filter(|o| o.starts_with(arg)).map(|o| format!("{name} {o}")).collect()
        }
        Some(_) => vec![],
    };
    candidates
}

/// Completes the word being typed: a command name, or its first argument.
pub fn complete(line: &str) -> String {
    let candidates = candidates(line);
    match candidates.as_slice() {
        [] => line.to_string(),
        [one] => format!("{one} "),
        many => {
            let first = &many[0];
            let common = (0..=first.len())
                .rev()
                .find(|&n| first.is_char_boundary(n) && many.iter().all(|c| c.starts_with(&first[..n])))
                .unwrap_or(0);
            first[..common].to_string().max(line.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("sort why"), Ok(Typed::Sort(SortBy::Why)));
        assert_eq!(parse(":group why"), Ok(Typed::Group(Some(GroupBy::Why))));
        assert_eq!(parse("group off"), Ok(Typed::Group(None)));
        assert_eq!(parse("filter cube  identity"), Ok(Typed::Filter("cube  identity".into())));
        assert_eq!(parse("open complycube abc123"), Ok(Typed::Open(CaseRef::new(ProviderId::ComplyCube, "abc123"))));
        assert!(parse("open acme 1").is_err_and(|e| e.contains("unknown provider")));
        assert!(parse("frobnicate").is_err_and(|e| e.contains("unknown command ':frobnicate'")));
        assert!(parse("sort size").is_err_and(|e| e.contains("age, provider")));
        assert_eq!(parse("q"), Ok(Typed::Quit));
    }

    #[test]
    fn tab_completes_names_and_arguments() {
        assert_eq!(complete("gr"), "group ");
        assert_eq!(complete("group w"), "group why ");
        assert_eq!(complete("open s"), "open sumsub ");
        assert_eq!(complete("open c"), "open c");
        assert_eq!(complete("o"), "o");
        assert_eq!(complete("zz"), "zz");
    }
}
