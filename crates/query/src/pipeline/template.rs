//! A small Go `text/template` engine for `line_format` and `label_format`.
//!
//! Supported: text and `{{ action }}` with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; operands `.label` (the label's value, empty when
//! absent), string (`"..."` with Go escapes, or backticks), number,
//! `true`/`false`, parenthesized pipelines; pipelines `a | f x | g` (the
//! piped value is passed as the last argument); `if`/`else if`/`else`/`end`
//! with Go truthiness (empty string, 0, false are false). The functions are
//! listed in `template_funcs.rs`. Not supported: variables (`$x`), `range`,
//! `with`, `define`/`template`/`block`.

use super::entry::LabelSet;
use super::template_funcs::{Value, call_function, regex_replace};

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

/// `command | command | ...`.
#[derive(Debug, Clone)]
struct Pipe {
    commands: Vec<Command>,
}

impl Pipe {
    /// The label name when the pipe is just `.label`.
    fn single_field(&self) -> Option<&str> {
        match self.commands.as_slice() {
            [Command { args, .. }] => match args.as_slice() {
                [Arg::Field(name)] if !name.is_empty() => Some(name),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A function call with arguments, or a single operand.
#[derive(Debug, Clone)]
struct Command {
    args: Vec<Arg>,
    /// The compiled regex of `regexReplaceAll "literal" ...`, built once at parse time.
    regex: Option<regex::Regex>,
}

impl Command {
    fn new(args: Vec<Arg>) -> Result<Command, String> {
        let mut regex = None;
        if let [Arg::Function(name), Arg::Literal(Value::Str(pattern)), ..] = args.as_slice()
            && name.starts_with("regexReplaceAll")
        {
            let compiled = regex::Regex::new(pattern)
                .map_err(|err| format!("invalid regex {pattern:?}: {err}"))?;
            regex = Some(compiled);
        }
        Ok(Command { args, regex })
    }
}

#[derive(Debug, Clone)]
enum Arg {
    Field(String),
    Literal(Value),
    Function(String),
    Sub(Pipe),
}

/// What the template can read.
pub(crate) struct Context<'a> {
    pub labels: &'a LabelSet,
    pub line: &'a str,
    pub ts_ns: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Str(String),
    Number(f64),
    Ident(String),
    Pipe,
    Open,
    Close,
}

impl Template {
    /// Parses `source`; the error describes the first problem.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut items = split(source)?;
        check_nesting(&items)?;
        items.reverse();
        let (nodes, end) = parse_nodes(&mut items)?;
        if let Some(keyword) = end {
            return Err(format!("unexpected {{{{{keyword}}}}}"));
        }
        Ok(Template { nodes })
    }

    /// Renders into `out`.
    pub fn render(&self, context: &Context<'_>, out: &mut String) -> Result<(), String> {
        render_nodes(&self.nodes, context, out)
    }
}

/// A piece of the source: text, or the tokens of one action.
enum Item {
    Text(String),
    Action(Vec<Tok>),
}

/// Splits the source into text and tokenized actions, applying trim markers.
fn split(source: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[start + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end();
            inner = &inner[1..];
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let end = find_action_end(inner).ok_or("unclosed action")?;
        let mut action = &inner[..end];
        rest = &inner[end + 2..];
        trim_next = false;
        if action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-") {
            action = &action[..action.len() - 1];
            trim_next = true;
        }
        let action = action.trim();
        if action.starts_with("/*") && action.ends_with("*/") {
            continue;
        }
        items.push(Item::Action(tokenize(action)?));
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
    Ok(items)
}

/// Deepest `if` or parenthesis nesting accepted: parsing and rendering recurse per level.
const MAX_NESTING: usize = 32;

fn check_nesting(items: &[Item]) -> Result<(), String> {
    let mut ifs = 0usize;
    for item in items {
        let Item::Action(tokens) = item else { continue };
        match tokens.first() {
            Some(Tok::Ident(word)) if word == "if" => ifs += 1,
            Some(Tok::Ident(word)) if word == "end" => ifs = ifs.saturating_sub(1),
            _ => {}
        }
        let mut parens = 0usize;
        for token in tokens {
            match token {
                Tok::Open => parens += 1,
                Tok::Close => parens = parens.saturating_sub(1),
                _ => {}
            }
            if parens > MAX_NESTING {
                return Err(format!("parentheses nested deeper than {MAX_NESTING}"));
            }
        }
        if ifs > MAX_NESTING {
            return Err(format!("if blocks nested deeper than {MAX_NESTING}"));
        }
    }
    Ok(())
}

/// The offset of the `}}` closing an action, skipping quoted strings.
fn find_action_end(inner: &str) -> Option<usize> {
    let bytes = inner.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'"' => {
                pos += 1;
                while pos < bytes.len() && bytes[pos] != b'"' {
                    pos += if bytes[pos] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                pos += 1;
                while pos < bytes.len() && bytes[pos] != b'`' {
                    pos += 1;
                }
            }
            b'}' if bytes.get(pos + 1) == Some(&b'}') => return Some(pos),
            _ => {}
        }
        pos += 1;
    }
    None
}

fn tokenize(action: &str) -> Result<Vec<Tok>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = action.chars().collect();
    let mut pos = 0;
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    while pos < chars.len() {
        let c = chars[pos];
        if c.is_whitespace() {
            pos += 1;
        } else if c == '|' {
            tokens.push(Tok::Pipe);
            pos += 1;
        } else if c == '(' {
            tokens.push(Tok::Open);
            pos += 1;
        } else if c == ')' {
            tokens.push(Tok::Close);
            pos += 1;
        } else if c == '.' {
            let start = pos + 1;
            pos = start;
            while pos < chars.len() && is_word(chars[pos]) {
                pos += 1;
            }
            tokens.push(Tok::Field(chars[start..pos].iter().collect()));
        } else if c == '"' {
            let mut text = String::new();
            pos += 1;
            loop {
                let Some(&c) = chars.get(pos) else {
                    return Err("unterminated string".to_string());
                };
                pos += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let escaped = *chars.get(pos).ok_or("unterminated string")?;
                        pos += 1;
                        text.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    c => text.push(c),
                }
            }
            tokens.push(Tok::Str(text));
        } else if c == '`' {
            let start = pos + 1;
            let len = chars[start..]
                .iter()
                .position(|&c| c == '`')
                .ok_or("unterminated raw string")?;
            tokens.push(Tok::Str(chars[start..start + len].iter().collect()));
            pos = start + len + 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(pos + 1).is_some_and(char::is_ascii_digit))
        {
            let start = pos;
            pos += 1;
            while pos < chars.len() && (chars[pos].is_ascii_alphanumeric() || chars[pos] == '.') {
                pos += 1;
            }
            let text: String = chars[start..pos].iter().collect();
            tokens.push(Tok::Number(
                text.parse().map_err(|_| format!("bad number {text:?}"))?,
            ));
        } else if is_word(c) {
            let start = pos;
            while pos < chars.len() && is_word(chars[pos]) {
                pos += 1;
            }
            tokens.push(Tok::Ident(chars[start..pos].iter().collect()));
        } else {
            return Err(format!("unexpected {c:?} in action"));
        }
    }
    Ok(tokens)
}

/// Parses nodes until the end or a control keyword (`else`, `end`), which is returned.
fn parse_nodes(items: &mut Vec<Item>) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(item) = items.pop() {
        let tokens = match item {
            Item::Text(text) => {
                nodes.push(Node::Text(text));
                continue;
            }
            Item::Action(tokens) => tokens,
        };
        match tokens.first() {
            Some(Tok::Ident(word)) if word == "end" || word == "else" => {
                // Put the remainder of `else if ...` back for the caller.
                items.push(Item::Action(tokens));
                return Ok((nodes, Some(word_of(items))));
            }
            Some(Tok::Ident(word)) if word == "if" => {
                nodes.push(parse_if(tokens[1..].to_vec(), items)?)
            }
            Some(Tok::Ident(word))
                if matches!(
                    word.as_str(),
                    "range" | "with" | "define" | "template" | "block"
                ) =>
            {
                return Err(format!("{word} is not supported"));
            }
            None => return Err("empty action".to_string()),
            _ => nodes.push(Node::Action(parse_pipe(&tokens)?)),
        }
    }
    Ok((nodes, None))
}

/// The keyword of the action on top of the stack.
fn word_of(items: &[Item]) -> String {
    match items.last() {
        Some(Item::Action(tokens)) => match tokens.first() {
            Some(Tok::Ident(word)) => word.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

fn parse_if(condition: Vec<Tok>, items: &mut Vec<Item>) -> Result<Node, String> {
    let mut branches = Vec::new();
    let mut condition = parse_pipe(&condition)?;
    loop {
        let (body, end) = parse_nodes(items)?;
        let Some(Item::Action(tokens)) = items.pop() else {
            return Err("missing {{end}}".to_string());
        };
        match end.as_deref() {
            Some("end") => {
                branches.push((condition, body));
                return Ok(Node::If {
                    branches,
                    otherwise: Vec::new(),
                });
            }
            Some("else") if tokens.len() > 2 && tokens[1] == Tok::Ident("if".to_string()) => {
                branches.push((condition, body));
                condition = parse_pipe(&tokens[2..])?;
            }
            Some("else") => {
                branches.push((condition, body));
                let (otherwise, end) = parse_nodes(items)?;
                items.pop();
                if end.as_deref() != Some("end") {
                    return Err("missing {{end}}".to_string());
                }
                return Ok(Node::If {
                    branches,
                    otherwise,
                });
            }
            _ => return Err("missing {{end}}".to_string()),
        }
    }
}

fn parse_pipe(tokens: &[Tok]) -> Result<Pipe, String> {
    let mut commands = Vec::new();
    let mut args = Vec::new();
    let mut pos = 0;
    while pos < tokens.len() {
        match &tokens[pos] {
            Tok::Pipe => {
                if args.is_empty() {
                    return Err("missing command before '|'".to_string());
                }
                commands.push(Command::new(std::mem::take(&mut args))?);
            }
            Tok::Open => {
                let mut depth = 1;
                let start = pos + 1;
                while depth > 0 {
                    pos += 1;
                    match tokens.get(pos) {
                        Some(Tok::Open) => depth += 1,
                        Some(Tok::Close) => depth -= 1,
                        Some(_) => {}
                        None => return Err("unclosed '('".to_string()),
                    }
                }
                args.push(Arg::Sub(parse_pipe(&tokens[start..pos])?));
            }
            Tok::Close => return Err("unexpected ')'".to_string()),
            Tok::Field(name) => args.push(Arg::Field(name.clone())),
            Tok::Str(text) => args.push(Arg::Literal(Value::Str(text.clone()))),
            Tok::Number(value) => args.push(Arg::Literal(Value::Num(*value))),
            Tok::Ident(word) => match word.as_str() {
                "true" => args.push(Arg::Literal(Value::Bool(true))),
                "false" => args.push(Arg::Literal(Value::Bool(false))),
                "nil" => args.push(Arg::Literal(Value::Nil)),
                _ => {
                    if !super::template_funcs::is_function(word) {
                        return Err(format!("function {word:?} not defined"));
                    }
                    args.push(Arg::Function(word.clone()));
                }
            },
        }
        pos += 1;
    }
    if args.is_empty() {
        return Err("missing command".to_string());
    }
    commands.push(Command::new(args)?);
    Ok(Pipe { commands })
}

fn render_nodes(nodes: &[Node], context: &Context<'_>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action(pipe) => match pipe.single_field() {
                // The common `{{.label}}`: copy the value without building a Value.
                Some(name) => out.push_str(context.labels.get(name).unwrap_or("")),
                None => eval_pipe(pipe, context)?.write_to(out),
            },
            Node::If {
                branches,
                otherwise,
            } => {
                let mut taken = false;
                for (condition, body) in branches {
                    if eval_pipe(condition, context)?.truthy() {
                        render_nodes(body, context, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    render_nodes(otherwise, context, out)?;
                }
            }
        }
        if out.len() > super::template_funcs::MAX_TEMPLATE_OUTPUT {
            return Err(format!(
                "template output is longer than {} bytes",
                super::template_funcs::MAX_TEMPLATE_OUTPUT
            ));
        }
    }
    Ok(())
}

fn eval_pipe(pipe: &Pipe, context: &Context<'_>) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for command in &pipe.commands {
        piped = Some(eval_command(command, piped.take(), context)?);
    }
    Ok(piped.unwrap_or(Value::Nil))
}

fn eval_arg(arg: &Arg, context: &Context<'_>) -> Result<Value, String> {
    match arg {
        Arg::Field(name) if name.is_empty() => Err("the dot value cannot be printed".to_string()),
        Arg::Field(name) => Ok(Value::Str(
            context.labels.get(name).unwrap_or("").to_string(),
        )),
        Arg::Literal(value) => Ok(value.clone()),
        Arg::Function(name) => call_function(name, Vec::new(), context),
        Arg::Sub(pipe) => eval_pipe(pipe, context),
    }
}

fn eval_command(
    command: &Command,
    piped: Option<Value>,
    context: &Context<'_>,
) -> Result<Value, String> {
    let Arg::Function(name) = &command.args[0] else {
        if command.args.len() > 1 || piped.is_some() {
            return Err("can't give argument to non-function".to_string());
        }
        return eval_arg(&command.args[0], context);
    };
    let mut args = Vec::with_capacity(command.args.len());
    for arg in &command.args[1..] {
        args.push(eval_arg(arg, context)?);
    }
    if let Some(value) = piped {
        args.push(value);
    }
    if let Some(regex) = &command.regex {
        return regex_replace(name, regex, &args);
    }
    call_function(name, args, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_model::Labels;

    #[test]
    fn renders() {
        let stream = Labels::parse(
            r#"{app="api", level="warn", msg="  Hello World  ", n="42", path="/a/b", empty=""}"#,
        )
        .unwrap();
        let labels = LabelSet::new(&stream, &[]);
        let context = Context {
            labels: &labels,
            line: "the line",
            ts_ns: 1_700_000_000_123_000_000,
        };
        let case = |source: &str, expected: &str| {
            let template = Template::parse(source).unwrap_or_else(|err| panic!("{source}: {err}"));
            let mut out = String::new();
            template
                .render(&context, &mut out)
                .unwrap_or_else(|err| panic!("{source}: {err}"));
            assert_eq!(out, expected, "{source}");
        };
        case("plain", "plain");
        case("{{.app}}: {{ .level }}", "api: warn");
        case("{{.missing}}|", "|");
        case("{{ __line__ }}", "the line");
        case("{{ __timestamp__ | unixEpoch }}", "1700000000");
        case("{{ __timestamp__ | unixEpochMillis }}", "1700000000123");
        case("{{ __timestamp__ }}", "2023-11-14 22:13:20.123 +0000 UTC");
        case(
            "{{ .level | ToUpper }} {{ upper .app }} {{ lower \"ABC\" }} {{ ToLower .level }}",
            "WARN API abc warn",
        );
        case(
            "{{ .msg | trim }}|{{ title \"hello world\" }}",
            "Hello World|Hello World",
        );
        case(
            "{{ .path | trimPrefix \"/a\" }} {{ .path | trimSuffix \"/b\" }}",
            "/b /a",
        );
        case(
            "{{ .path | replace \"/\" \"_\" }} {{ Replace .path \"/\" \"-\" 1 }}",
            "_a_b -a/b",
        );
        case(
            "{{ .empty | default \"none\" }} {{ .app | default \"none\" }}",
            "none api",
        );
        case(
            "{{ printf \"%s=%d %5.2f %-4s| %q %%\" .app 7 3.14159 \"ab\" \"q\" }}",
            "api=7  3.14 ab  | \"q\" %",
        );
        case("{{ printf \"%v %03d %x\" .n 7 255 }}", "42 007 ff");
        case("{{ len .app }}", "3");
        case(
            "{{ regexReplaceAll \"(\\\\w+)/(\\\\w+)\" .path \"${2}-${1}\" }}",
            "/b-a",
        );
        case(
            "{{ if eq .level \"warn\" }}W{{ else if eq .level \"error\" }}E{{ else }}?{{ end }}",
            "W",
        );
        case("{{ if ne .level \"warn\" }}W{{ else }}not{{ end }}", "not");
        case(
            "{{ if .empty }}yes{{ else }}no{{ end }}{{ if .app }}!{{ end }}",
            "no!",
        );
        case(
            "{{ if and (contains \"pi\" .app) (hasPrefix \"a\" .app) }}ok{{ end }}",
            "ok",
        );
        case(
            "{{ if or (hasSuffix \"x\" .app) (not false) }}ok{{ end }}",
            "ok",
        );
        case("a {{- \" b \" -}} c", "a b c");
        case("{{/* comment */}}x", "x");
        case(
            "{{ add 1 2 }} {{ sub .n 2 }} {{ mul 3 4 }} {{ div 9 2 }} {{ addf 1.5 1 }}",
            "3 40 12 4 2.5",
        );
        case("{{ if gt (int .n) 40 }}big{{ end }}", "big");
        case("{{ substr 1 3 .app }} {{ trimAll \"/\" .path }}", "pi a/b");
        case(
            "{{ .app | alignRight 5 }}|{{ .app | alignLeft 2 }}",
            "  api|ap",
        );
    }

    #[test]
    fn rejects() {
        let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(40), ")".repeat(40));
        let deep_ifs = format!("{}{}", "{{ if 1 }}".repeat(40), "{{ end }}".repeat(40));
        assert!(Template::parse(&deep_parens).is_err());
        assert!(Template::parse(&deep_ifs).is_err());
        for source in [
            "{{ regexReplaceAll \"(\" .x \"y\" }}",
            "{{",
            "{{ .x",
            "{{ nosuch .x }}",
            "{{ if .x }}",
            "{{ end }}",
            "{{ range .x }}{{ end }}",
            "{{ }}",
            "{{ (.x }}",
        ] {
            assert!(Template::parse(source).is_err(), "{source}");
        }
    }
}
