//! A small Go `text/template` engine for `line_format` and `label_format`.
//!
//! Supported: text and `{{ action }}` with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; operands `.label` (the label's value, empty when
//! absent), `.a.b` (fields of a map value, inside `range`/`with`), `$x` and
//! `$x.a` (variables; `$` is the labels), string (`"..."` with Go escapes, or
//! backticks), number (integers and floats kept apart as Go does), `true`/
//! `false`, parenthesized pipelines; pipelines `a | f x | g` (the piped value
//! is passed as the last argument); declarations `$x := pipeline` and
//! assignments `$x = pipeline`; `if`/`else if`/`else`/`end` with Go truthiness
//! (empty string or collection, 0, false, nil are false); `with` (and `else
//! with`); `range pipeline`, `range $e := pipeline`, `range $i, $e :=
//! pipeline` over lists, maps (in key order) and integers, with `else`,
//! `break` and `continue`. The functions are listed in `template_funcs.rs`.
//! Not supported: `define`/`template`/`block`, method calls.

use super::entry::LabelSet;
use super::template_funcs::{
    MAX_TEMPLATE_OUTPUT, Value, call_function, call_with_regex, field_of, parse_number_literal,
};

/// Most `range` iterations one rendering may run, nested ranges included.
const MAX_RANGE_ITERATIONS: usize = 100_000;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    /// Prints the pipeline's value, unless the pipeline declares or assigns variables.
    Action(Pipe),
    /// `if`/`with` with their `else if`/`else with` chain.
    Branches {
        branches: Vec<Branch>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Branch {
    /// `with`: the body runs with the value as dot.
    with: bool,
    pipe: Pipe,
    body: Vec<Node>,
}

/// `[$x :=] command | command | ...`.
#[derive(Debug, Clone)]
struct Pipe {
    /// Variables the pipeline declares (or assigns when `assign`).
    decl: Vec<String>,
    assign: bool,
    commands: Vec<Command>,
}

impl Pipe {
    /// The label name when the pipe is just `.label`.
    fn single_field(&self) -> Option<&str> {
        if !self.decl.is_empty() {
            return None;
        }
        match self.commands.as_slice() {
            [Command { args, .. }] => match args.as_slice() {
                [Arg::Field(path)] if path.len() == 1 => Some(&path[0]),
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
    /// The compiled regex of `regexReplaceAll "literal" ...` or `count "literal" ...`,
    /// built once at parse time.
    regex: Option<regex::Regex>,
}

impl Command {
    fn new(args: Vec<Arg>) -> Result<Command, String> {
        let mut regex = None;
        if let [Arg::Function(name), Arg::Literal(Value::Str(pattern)), ..] = args.as_slice()
            && (name.starts_with("regexReplaceAll") || name == "count")
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
    /// `.a.b`; empty for `.` itself.
    Field(Vec<String>),
    /// `$name.a.b`; the name is empty for `$`.
    Var(String, Vec<String>),
    Literal(Value),
    Function(String),
    /// `(pipeline)` or `(pipeline).a.b`.
    Sub(Pipe, Vec<String>),
}

/// What the template can read.
pub(crate) struct Context<'a> {
    pub labels: &'a LabelSet<'a>,
    pub line: &'a str,
    pub ts_ns: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Number(Value),
    Ident(String),
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
    Comma,
    /// `.a.b` right after `)`.
    Chain(Vec<String>),
}

impl Template {
    /// Parses `source`; the error describes the first problem.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut items = split(source)?;
        check_nesting(&items)?;
        items.reverse();
        let mut parser = Parser {
            items,
            vars: Vec::new(),
            ranges: 0,
        };
        let (nodes, end) = parser.nodes()?;
        if let Some(tokens) = end {
            return Err(format!("unexpected {{{{{}}}}}", keyword(&tokens)));
        }
        Ok(Template { nodes })
    }

    /// Renders into `out`.
    pub fn render(&self, context: &Context<'_>, out: &mut String) -> Result<(), String> {
        let mut exec = Exec {
            context,
            vars: Vec::new(),
            iterations: 0,
        };
        exec.nodes(&self.nodes, Dot::Labels, out).map(|_| ())
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

/// Deepest block or parenthesis nesting accepted: parsing and rendering recurse per level.
const MAX_NESTING: usize = 32;

fn check_nesting(items: &[Item]) -> Result<(), String> {
    let mut blocks = 0usize;
    for item in items {
        let Item::Action(tokens) = item else { continue };
        match tokens.first() {
            Some(Tok::Ident(word)) if matches!(word.as_str(), "if" | "with" | "range") => {
                blocks += 1
            }
            Some(Tok::Ident(word)) if word == "end" => blocks = blocks.saturating_sub(1),
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
        if blocks > MAX_NESTING {
            return Err(format!(
                "if/with/range blocks nested deeper than {MAX_NESTING}"
            ));
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
    let is_digit = |at: usize| chars.get(at).is_some_and(char::is_ascii_digit);
    // `.a.b` after a field or variable: the segments, advancing `pos`.
    let segments = |pos: &mut usize| {
        let mut path = Vec::new();
        while chars.get(*pos) == Some(&'.') && chars.get(*pos + 1).is_some_and(|&c| is_word(c)) {
            let start = *pos + 1;
            *pos = start;
            while *pos < chars.len() && is_word(chars[*pos]) {
                *pos += 1;
            }
            path.push(chars[start..*pos].iter().collect::<String>());
        }
        path
    };
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
            // `(pipeline).field`
            let path = segments(&mut pos);
            if !path.is_empty() {
                tokens.push(Tok::Chain(path));
            }
        } else if c == ',' {
            tokens.push(Tok::Comma);
            pos += 1;
        } else if c == ':' && chars.get(pos + 1) == Some(&'=') {
            tokens.push(Tok::Declare);
            pos += 2;
        } else if c == '=' {
            tokens.push(Tok::Assign);
            pos += 1;
        } else if c == '$' {
            let start = pos + 1;
            pos = start;
            while pos < chars.len() && is_word(chars[pos]) {
                pos += 1;
            }
            let name: String = chars[start..pos].iter().collect();
            tokens.push(Tok::Var(name, segments(&mut pos)));
        } else if c == '.' && !is_digit(pos + 1) {
            let path = segments(&mut pos);
            if path.is_empty() {
                pos += 1;
            }
            tokens.push(Tok::Field(path));
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
            || (c == '.' && is_digit(pos + 1))
            || (matches!(c, '-' | '+')
                && (is_digit(pos + 1) || (chars.get(pos + 1) == Some(&'.') && is_digit(pos + 2))))
        {
            let start = pos;
            pos += 1;
            while pos < chars.len() {
                let c = chars[pos];
                let exponent_sign = matches!(c, '-' | '+')
                    && matches!(chars[pos - 1], 'e' | 'E')
                    && !chars[start..pos].iter().any(|&c| c == 'x' || c == 'X');
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || exponent_sign {
                    pos += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[start..pos].iter().collect();
            tokens.push(Tok::Number(
                parse_number_literal(&text).ok_or_else(|| format!("bad number {text:?}"))?,
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

/// The leading keyword of an action, for messages.
fn keyword(tokens: &[Tok]) -> String {
    match tokens.first() {
        Some(Tok::Ident(word)) => word.clone(),
        _ => String::new(),
    }
}

fn is_keyword(tokens: &[Tok], word: &str) -> bool {
    matches!(tokens.first(), Some(Tok::Ident(first)) if first == word)
}

struct Parser {
    /// The remaining items, last first.
    items: Vec<Item>,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    /// Depth of `range` bodies being parsed (for `break`/`continue`).
    ranges: usize,
}

impl Parser {
    /// Parses nodes until the end or an `{{else ...}}`/`{{end}}`, whose tokens are returned.
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<Vec<Tok>>), String> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.pop() {
            let tokens = match item {
                Item::Text(text) => {
                    nodes.push(Node::Text(text));
                    continue;
                }
                Item::Action(tokens) => tokens,
            };
            let Some(first) = tokens.first() else {
                return Err("empty action".to_string());
            };
            let word = match first {
                Tok::Ident(word) => word.as_str(),
                _ => "",
            };
            match word {
                "end" | "else" => return Ok((nodes, Some(tokens))),
                "if" | "with" => nodes.push(self.branches(word == "with", &tokens[1..])?),
                "range" => nodes.push(self.range(&tokens[1..])?),
                "break" | "continue" => {
                    if tokens.len() > 1 {
                        return Err(format!("unexpected arguments after {{{{{word}}}}}"));
                    }
                    if self.ranges == 0 {
                        return Err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                    }
                    nodes.push(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return Err(format!("{word} is not supported"));
                }
                _ => nodes.push(Node::Action(self.pipe(&tokens, false)?)),
            }
        }
        Ok((nodes, None))
    }

    /// `if`/`with` after its keyword, through the `{{end}}` of its chain.
    fn branches(&mut self, with: bool, condition: &[Tok]) -> Result<Node, String> {
        let mark = self.vars.len();
        let mut branches = Vec::new();
        let mut kind = with;
        let mut pipe = self.pipe(condition, false)?;
        let node = loop {
            let (body, end) = self.nodes()?;
            branches.push(Branch {
                with: kind,
                pipe,
                body,
            });
            let end = end.ok_or("missing {{end}}")?;
            match end.as_slice() {
                [Tok::Ident(word)] if word == "end" => {
                    break Node::Branches {
                        branches,
                        otherwise: Vec::new(),
                    };
                }
                [Tok::Ident(word)] if word == "else" => {
                    let otherwise = self.else_body()?;
                    break Node::Branches {
                        branches,
                        otherwise,
                    };
                }
                [Tok::Ident(word), Tok::Ident(next), rest @ ..]
                    if word == "else" && (next == "if" || next == "with") =>
                {
                    kind = next == "with";
                    pipe = self.pipe(rest, false)?;
                }
                _ => return Err(format!("unexpected {{{{{}}}}}", keyword(&end))),
            }
        };
        self.vars.truncate(mark);
        Ok(node)
    }

    /// `range` after its keyword, through its `{{end}}`.
    fn range(&mut self, tokens: &[Tok]) -> Result<Node, String> {
        let mark = self.vars.len();
        let pipe = self.pipe(tokens, true)?;
        self.ranges += 1;
        let parsed = self.nodes();
        self.ranges -= 1;
        let (body, end) = parsed?;
        let end = end.ok_or("missing {{end}}")?;
        let otherwise = match end.as_slice() {
            [Tok::Ident(word)] if word == "end" => Vec::new(),
            [Tok::Ident(word)] if word == "else" => self.else_body()?,
            [Tok::Ident(word), Tok::Ident(next), rest @ ..]
                if word == "else" && (next == "if" || next == "with") =>
            {
                vec![self.branches(next == "with", rest)?]
            }
            _ => return Err(format!("unexpected {{{{{}}}}}", keyword(&end))),
        };
        self.vars.truncate(mark);
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    /// The nodes after a plain `{{else}}`, through `{{end}}`.
    fn else_body(&mut self) -> Result<Vec<Node>, String> {
        let (otherwise, end) = self.nodes()?;
        match end {
            Some(tokens) if tokens.len() == 1 && is_keyword(&tokens, "end") => Ok(otherwise),
            Some(tokens) => Err(format!(
                "expected {{{{end}}}}, found {{{{{}}}}}",
                keyword(&tokens)
            )),
            None => Err("missing {{end}}".to_string()),
        }
    }

    /// A pipeline with its optional declaration (two variables only in `range`).
    fn pipe(&mut self, tokens: &[Tok], range: bool) -> Result<Pipe, String> {
        let (decl, assign, rest) = match tokens {
            [
                Tok::Var(name, path),
                op @ (Tok::Declare | Tok::Assign),
                rest @ ..,
            ] => {
                if path.is_empty() && !name.is_empty() {
                    (vec![name.clone()], *op == Tok::Assign, rest)
                } else {
                    return Err("bad variable in declaration".to_string());
                }
            }
            [
                Tok::Var(first, first_path),
                Tok::Comma,
                Tok::Var(second, second_path),
                op @ (Tok::Declare | Tok::Assign),
                rest @ ..,
            ] => {
                if !range {
                    return Err("too many declarations".to_string());
                }
                if !(first_path.is_empty() && second_path.is_empty())
                    || first.is_empty()
                    || second.is_empty()
                {
                    return Err("bad variable in declaration".to_string());
                }
                (
                    vec![first.clone(), second.clone()],
                    *op == Tok::Assign,
                    rest,
                )
            }
            _ => (Vec::new(), false, tokens),
        };
        if assign && let Some(name) = decl.iter().find(|name| !self.vars.contains(name)) {
            return Err(format!("undefined variable \"${name}\""));
        }
        let commands = parse_commands(rest, &self.vars)?;
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe {
            decl,
            assign,
            commands,
        })
    }
}

fn parse_commands(tokens: &[Tok], vars: &[String]) -> Result<Vec<Command>, String> {
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
                let pipe = Pipe {
                    decl: Vec::new(),
                    assign: false,
                    commands: parse_commands(&tokens[start..pos], vars)?,
                };
                let path = match tokens.get(pos + 1) {
                    Some(Tok::Chain(path)) => {
                        pos += 1;
                        path.clone()
                    }
                    _ => Vec::new(),
                };
                args.push(Arg::Sub(pipe, path));
            }
            Tok::Close => return Err("unexpected ')'".to_string()),
            Tok::Declare | Tok::Assign | Tok::Comma | Tok::Chain(_) => {
                return Err("unexpected declaration or ',' in pipeline".to_string());
            }
            Tok::Field(path) => args.push(Arg::Field(path.clone())),
            Tok::Var(name, path) => {
                if !name.is_empty() && !vars.contains(name) {
                    return Err(format!("undefined variable \"${name}\""));
                }
                args.push(Arg::Var(name.clone(), path.clone()));
            }
            Tok::Str(text) => args.push(Arg::Literal(Value::Str(text.clone()))),
            Tok::Number(value) => args.push(Arg::Literal(value.clone())),
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
    Ok(commands)
}

/// The value `.` stands for.
#[derive(Clone, Copy)]
enum Dot<'v> {
    /// The labels (the template's data).
    Labels,
    Value(&'v Value),
}

/// How a list of nodes ended.
enum Flow {
    Next,
    Break,
    Continue,
}

/// One rendering's state.
struct Exec<'t, 'c> {
    context: &'t Context<'c>,
    /// Variables in scope, innermost last.
    vars: Vec<(String, Value)>,
    iterations: usize,
}

impl Exec<'_, '_> {
    fn nodes(&mut self, nodes: &[Node], dot: Dot<'_>, out: &mut String) -> Result<Flow, String> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipe) => match (pipe.single_field(), dot) {
                    // The common `{{.label}}`: copy the value without building a Value.
                    (Some(name), Dot::Labels) => {
                        out.push_str(self.context.labels.get(name).unwrap_or(""))
                    }
                    _ => {
                        let value = self.pipe(pipe, dot)?;
                        if pipe.decl.is_empty() {
                            match value {
                                // What Go prints for a missing value (a nil interface).
                                Value::Nil => out.push_str("<no value>"),
                                value => value.write_to(out),
                            }
                        }
                    }
                },
                Node::Branches {
                    branches,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut flow = None;
                    for branch in branches {
                        let value = self.pipe(&branch.pipe, dot)?;
                        if value.truthy() {
                            let inner = if branch.with { Dot::Value(&value) } else { dot };
                            flow = Some(self.nodes(&branch.body, inner, out)?);
                            break;
                        }
                    }
                    let flow = match flow {
                        Some(flow) => flow,
                        None => self.nodes(otherwise, dot, out)?,
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Next) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let flow = self.range(pipe, body, otherwise, dot, out)?;
                    if !matches!(flow, Flow::Next) {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
            if out.len() > MAX_TEMPLATE_OUTPUT {
                return Err(format!(
                    "template output is longer than {MAX_TEMPLATE_OUTPUT} bytes"
                ));
            }
        }
        Ok(Flow::Next)
    }

    /// Runs a `range`; the flow is that of its `else` (a `break` in the body stops only the range).
    fn range(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: Dot<'_>,
        out: &mut String,
    ) -> Result<Flow, String> {
        let value = self.commands(&pipe.commands, dot)?;
        let mark = self.vars.len();
        for name in &pipe.decl {
            self.vars.push((name.clone(), Value::Nil));
        }
        let mut ran = false;
        match &value {
            Value::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    ran = true;
                    let index = Value::Int(index as i64);
                    if let Flow::Break = self.iteration(pipe, mark, index, item, body, out)? {
                        break;
                    }
                }
            }
            Value::Map(map) => {
                for (key, item) in map {
                    ran = true;
                    let key = Value::Str(key.clone());
                    if let Flow::Break = self.iteration(pipe, mark, key, item, body, out)? {
                        break;
                    }
                }
            }
            Value::Int(count) => {
                if pipe.decl.len() > 1 {
                    return Err("can't use two variables when ranging over an integer".into());
                }
                for index in 0..*count {
                    ran = true;
                    let item = Value::Int(index);
                    if let Flow::Break = self.iteration(pipe, mark, Value::Nil, &item, body, out)? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(format!(
                    "range can't iterate over {}",
                    other.describe_for_error()
                ));
            }
        }
        let flow = if ran {
            Flow::Next
        } else {
            self.nodes(otherwise, dot, out)?
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn iteration(
        &mut self,
        pipe: &Pipe,
        mark: usize,
        key: Value,
        item: &Value,
        body: &[Node],
        out: &mut String,
    ) -> Result<Flow, String> {
        self.iterations += 1;
        if self.iterations > MAX_RANGE_ITERATIONS {
            return Err(format!(
                "range ran more than {MAX_RANGE_ITERATIONS} iterations"
            ));
        }
        match pipe.decl.len() {
            1 => self.vars[mark].1 = item.clone(),
            2 => {
                self.vars[mark].1 = key;
                self.vars[mark + 1].1 = item.clone();
            }
            _ => {}
        }
        let inner = self.vars.len();
        let flow = self.nodes(body, Dot::Value(item), out)?;
        self.vars.truncate(inner);
        Ok(flow)
    }

    /// Evaluates a pipeline and applies its declaration or assignment.
    fn pipe(&mut self, pipe: &Pipe, dot: Dot<'_>) -> Result<Value, String> {
        let value = self.commands(&pipe.commands, dot)?;
        if let Some(name) = pipe.decl.first() {
            if pipe.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(declared, _)| declared == name)
                    .ok_or_else(|| format!("undefined variable \"${name}\""))?;
                slot.1 = value.clone();
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn commands(&mut self, commands: &[Command], dot: Dot<'_>) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        for command in commands {
            piped = Some(self.command(command, piped.take(), dot)?);
        }
        Ok(piped.unwrap_or(Value::Nil))
    }

    fn command(
        &mut self,
        command: &Command,
        piped: Option<Value>,
        dot: Dot<'_>,
    ) -> Result<Value, String> {
        let Arg::Function(name) = &command.args[0] else {
            if command.args.len() > 1 || piped.is_some() {
                return Err("can't give argument to non-function".to_string());
            }
            if let Arg::Literal(Value::Nil) = command.args[0] {
                return Err("nil is not a command".to_string());
            }
            return self.arg(&command.args[0], dot);
        };
        if name == "and" || name == "or" {
            // Go evaluates these lazily: the first deciding operand is the result.
            let mut last = Value::Nil;
            let rest = command.args[1..].iter().map(Some).chain([None]);
            for arg in rest {
                let value = match arg {
                    Some(arg) => self.arg(arg, dot)?,
                    None => match &piped {
                        Some(value) => value.clone(),
                        None => break,
                    },
                };
                if value.truthy() != (name == "and") {
                    return Ok(value);
                }
                last = value;
            }
            if command.args.len() == 1 && piped.is_none() {
                return Err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            return Ok(last);
        }
        let mut args = Vec::with_capacity(command.args.len());
        for arg in &command.args[1..] {
            args.push(self.arg(arg, dot)?);
        }
        if let Some(value) = piped {
            args.push(value);
        }
        if let Some(regex) = &command.regex {
            return call_with_regex(name, regex, &args);
        }
        call_function(name, args, self.context)
    }

    fn arg(&mut self, arg: &Arg, dot: Dot<'_>) -> Result<Value, String> {
        match arg {
            Arg::Field(path) => self.field(dot, path),
            Arg::Var(name, path) if name.is_empty() => self.field(Dot::Labels, path),
            Arg::Var(name, path) => {
                let (_, value) = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(declared, _)| declared == name)
                    .ok_or_else(|| format!("undefined variable \"${name}\""))?;
                field_of(value, path)
            }
            Arg::Literal(value) => Ok(value.clone()),
            Arg::Function(name) => call_function(name, Vec::new(), self.context),
            Arg::Sub(pipe, path) => {
                let value = self.commands(&pipe.commands, dot)?;
                if path.is_empty() {
                    Ok(value)
                } else {
                    field_of(&value, path)
                }
            }
        }
    }

    fn field(&self, dot: Dot<'_>, path: &[String]) -> Result<Value, String> {
        match dot {
            Dot::Labels => {
                let Some((name, rest)) = path.split_first() else {
                    return Err("the labels cannot be used as a value".to_string());
                };
                let value = Value::Str(self.context.labels.get(name).unwrap_or("").to_string());
                if rest.is_empty() {
                    Ok(value)
                } else {
                    field_of(&value, rest)
                }
            }
            Dot::Value(value) => field_of(value, path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_model::Labels;

    fn render_with(labels: &str, line: &str, source: &str) -> Result<String, String> {
        let stream = Labels::parse(labels).unwrap();
        let labels = LabelSet::new(&stream, &[]);
        let context = Context {
            labels: &labels,
            line,
            ts_ns: 1_700_000_000_123_000_000,
        };
        let template = Template::parse(source)?;
        let mut out = String::new();
        template.render(&context, &mut out)?;
        Ok(out)
    }

    #[test]
    fn renders() {
        let labels =
            r#"{app="api", level="warn", msg="  Hello World  ", n="42", path="/a/b", empty=""}"#;
        let case = |source: &str, expected: &str| {
            let out = render_with(labels, "the line", source)
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
        // Numbers keep Go's integer/float distinction and printing.
        case(
            "{{ 3 }} {{ 3.0 }} {{ .5 }} {{ -2 }} {{ 1e6 }} {{ 0x1f }}",
            "3 3 0.5 -2 1e+06 31",
        );
        // Lazy and/or: the failing operand is never evaluated.
        case("{{ and .empty (div 1 0) }}|{{ or .app (div 1 0) }}", "|api");
    }

    #[test]
    fn variables_range_and_with() {
        let queries = r#"[{"query":"sum(rate(x[1m]))","ms":12},{"query":"up","ms":3}]"#;
        let labels =
            format!(r#"{{app="api", queries={queries:?}, obj="{{\"b\":2,\"a\":1}}", n="3"}}"#);
        let case = |source: &str, expected: &str| {
            let out = render_with(&labels, "the line", source)
                .unwrap_or_else(|err| panic!("{source}: {err}"));
            assert_eq!(out, expected, "{source}");
        };
        // Loki's documented example.
        case(
            "{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}",
            " sum(rate(x[1m]))  up ",
        );
        case(
            "{{ range fromJson .queries }}[{{ .query }}:{{ .ms }}]{{ end }}",
            "[sum(rate(x[1m])):12][up:3]",
        );
        case(
            "{{ range $i, $q := fromJson .queries }}{{ $i }}={{ $q.query }};{{ end }}",
            "0=sum(rate(x[1m]));1=up;",
        );
        // Maps iterate in key order; $ is the labels.
        case(
            "{{ range $k, $v := fromJson .obj }}{{ $k }}{{ $v }}{{ $.app }} {{ end }}",
            "a1api b2api ",
        );
        case(
            "{{ range fromJson \"[]\" }}x{{ else }}empty{{ end }}",
            "empty",
        );
        case(
            "{{ range fromJson \"oops\" }}x{{ else }}none{{ end }}",
            "none",
        );
        case("{{ range $i := 3 }}{{ $i }}{{ end }}", "012");
        case(
            "{{ range $i := 10 }}{{ if eq $i 2 }}{{ continue }}{{ end }}{{ if gt $i 4 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
            "0134",
        );
        case(
            "{{ $x := .app }}{{ $x }}{{ $x = \"b\" }}{{ $x }}{{ if true }}{{ $x := 1 }}{{ $x }}{{ end }}{{ $x }}",
            "apib1b",
        );
        case("{{ $n := int .n }}{{ add $n 1 }}", "4");
        case(
            "{{ with fromJson .obj }}{{ .a }}-{{ .b }}{{ end }}{{ with .missing }}x{{ else }}y{{ end }}",
            "1-2y",
        );
        case(
            "{{ with .missing }}x{{ else with .app }}{{ . }}{{ end }}",
            "api",
        );
        case("{{ (fromJson .obj).a }}", "1");
        case(
            "{{ $o := fromJson .obj }}{{ $o }}|{{ $o.c }}|{{ len $o }}",
            "map[a:1 b:2]|<no value>|2",
        );
        case(
            "{{ fromJson .queries }}",
            "[map[ms:12 query:sum(rate(x[1m]))] map[ms:3 query:up]]",
        );
        case(
            "{{ range $q := fromJson .queries }}{{ if eq $q.query \"up\" }}{{ $q.ms }}{{ end }}{{ end }}",
            "3",
        );
    }

    #[test]
    fn rejects() {
        let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(40), ")".repeat(40));
        let deep_ifs = format!("{}{}", "{{ if 1 }}".repeat(40), "{{ end }}".repeat(40));
        let deep_ranges = format!("{}{}", "{{ range 1 }}".repeat(40), "{{ end }}".repeat(40));
        assert!(Template::parse(&deep_parens).is_err());
        assert!(Template::parse(&deep_ifs).is_err());
        assert!(Template::parse(&deep_ranges).is_err());
        for source in [
            "{{ regexReplaceAll \"(\" .x \"y\" }}",
            "{{ count \"(\" .x }}",
            "{{",
            "{{ .x",
            "{{ nosuch .x }}",
            "{{ if .x }}",
            "{{ end }}",
            "{{ range .x }}",
            "{{ range .x }}{{ else }}{{ else }}{{ end }}",
            "{{ }}",
            "{{ (.x }}",
            "{{ $x }}",
            "{{ $x = 1 }}",
            "{{ $a, $b := 1 }}",
            "{{ break }}",
            "{{ range 1 }}{{ else }}{{ break }}{{ end }}",
            "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
            "{{ define \"x\" }}{{ end }}",
        ] {
            assert!(Template::parse(source).is_err(), "{source}");
        }
        // Runtime errors.
        for source in [
            "{{ range .app }}{{ end }}",
            "{{ range $i, $e := 3 }}{{ end }}",
            "{{ .app.x }}",
            "{{ . }}",
            "{{ nil }}",
            "{{ range $i := 1000000 }}{{ end }}",
            "{{ range $i := 1000 }}{{ range $j := 1000 }}{{ end }}{{ end }}",
        ] {
            assert!(
                render_with(r#"{app="api"}"#, "", source).is_err(),
                "{source}"
            );
        }
    }
}
