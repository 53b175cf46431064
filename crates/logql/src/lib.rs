//! LogQL, the language only: lexer, parser, AST, printer
