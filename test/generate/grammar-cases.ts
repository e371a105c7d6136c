/** Grammars and JSON Schemas shared by the grammar tests and the grammar benchmark. */

export const GRAMMARS = {
  json: String.raw`
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
`,
  arithmetic: String.raw`
root  ::= (expr "=" ws term "\n")+
expr  ::= term ([-+*/] term)*
term  ::= ident | num | "(" ws expr ")" ws
ident ::= [a-z] [a-z0-9_]* ws
num   ::= [0-9]+ ws
ws    ::= [ \t\n]*
`,
  list: String.raw`
root ::= item{1,5}
item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]+ "\n"
`,
  c: String.raw`
root ::= (declaration)*
declaration ::= dataType identifier "(" parameter? ")" "{" statement* "}"
dataType  ::= "int" ws | "float" ws | "char" ws
identifier ::= [a-zA-Z_] [a-zA-Z_0-9]*
parameter ::= dataType identifier
statement ::=
    ( dataType identifier ws "=" ws expression ";" ) |
    ( identifier ws "=" ws expression ";" ) |
    ( identifier ws "(" argList? ")" ";" ) |
    ( "return" ws expression ";" ) |
    ( "while" "(" condition ")" "{" statement* "}" ) |
    ( "for" "(" forInit ";" ws condition ";" ws forUpdate ")" "{" statement* "}" ) |
    ( "if" "(" condition ")" "{" statement* "}" ("else" "{" statement* "}")? ) |
    ( singleLineComment ) |
    ( multiLineComment )
forInit ::= dataType identifier ws "=" ws expression | identifier ws "=" ws expression
forUpdate ::= identifier ws "=" ws expression
condition ::= expression relationOperator expression
relationOperator ::= ("<=" | "<" | "==" | "!=" | ">=" | ">")
expression ::= term (("+" | "-") term)*
term ::= factor(("*" | "/") factor)*
factor ::= identifier | number | unaryTerm | funcCall | parenExpression
unaryTerm ::= "-" factor
funcCall ::= identifier "(" argList? ")"
parenExpression ::= "(" ws expression ws ")"
argList ::= expression ("," ws expression)*
number ::= [0-9]+
singleLineComment ::= "//" [^\n]* "\n"
multiLineComment ::= "/*" ( [^*] | ("*" [^/]) )* "*/"
ws ::= ([ \t\n]+)
`,
  chess: String.raw`
# a move list: "1. e4 e5 2. Nf3 ..."
root   ::= "1. " move " " move "\n" ([1-9] [0-9]? ". " move " " move "\n")+
move   ::= (pawn | nonpawn | castle) [+#]?
nonpawn ::= [NBKQR] [a-h]? [1-8]? "x"? [a-h] [1-8]
pawn   ::= ([a-h] "x")? [a-h] [1-8] ("=" [NBKQR])?
castle ::= "O-O" "-O"?
`,
  japanese: String.raw`
# hiragana / katakana / kanji runs separated by ideographic full stops
root ::= jp+ ([\u3002] jp+)* [\u3002]?
jp   ::= [\u3041-\u3096\u30A1-\u30F6\u4E00-\u9FFF]
`,
  emoji: String.raw`
root ::= "say " [\U0001F600-\U0001F64F]{1,3} "!"
`,
  yesno: 'root ::= ("yes" | "no") "."',
} as const;

export const SCHEMAS: Record<string, object> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 12 },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      email: { type: 'string', pattern: '^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$' },
      tags: { type: 'array', items: { type: 'string', maxLength: 5 }, minItems: 1, maxItems: 3 },
    },
    required: ['name', 'age'],
  },
  formats: {
    type: 'object',
    properties: { id: { type: 'string', format: 'uuid' }, day: { type: 'string', format: 'date' }, at: { type: 'string', format: 'date-time' }, t: { type: 'string', format: 'time' } },
    required: ['id', 'day', 'at', 't'],
  },
  enums: {
    type: 'object',
    properties: { color: { enum: ['red', 'green', 'blue', 42, null] }, fixed: { const: { a: [1, 'x"y'] } }, flag: { type: 'boolean' }, n: { type: ['number', 'null'] } },
    required: ['color', 'fixed', 'flag'],
  },
  refs: {
    $defs: {
      node: {
        type: 'object',
        properties: { value: { type: 'integer', minimum: -20, maximum: 20 }, children: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
        required: ['value'],
      },
    },
    $ref: '#/$defs/node',
  },
  union: {
    type: 'object',
    properties: {
      shape: {
        oneOf: [
          { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number' } }, required: ['kind', 'r'] },
          { type: 'object', properties: { kind: { const: 'rect' }, w: { type: 'integer' }, h: { type: 'integer' } }, required: ['kind', 'w', 'h'] },
        ],
      },
      extra: {
        anyOf: [
          { type: 'string', maxLength: 3 },
          { type: 'integer', exclusiveMinimum: 10, exclusiveMaximum: 13 },
        ],
      },
    },
    required: ['shape'],
  },
  merged: {
    allOf: [
      { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] },
      { type: 'object', properties: { b: { type: 'string', maxLength: 4 } }, required: ['b'] },
    ],
  },
  openObject: {
    type: 'object',
    properties: { id: { type: 'integer', minimum: 1000, maximum: 1005 } },
    required: ['id'],
    additionalProperties: { type: 'integer', minimum: -3, maximum: 3 },
  },
  list: { type: 'array', items: { type: 'integer', minimum: -1234, maximum: 56789 }, minItems: 2, maxItems: 4 },
  tuple: { type: 'array', prefixItems: [{ type: 'string', maxLength: 3 }, { type: 'boolean' }, { type: 'null' }] },
  anyJson: {},
  jsonObject: { type: 'object' },
};
