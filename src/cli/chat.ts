/**
 * `tsinfer chat`: a terminal chat with a model's chat template. Interactive by default
 * (readline: line editing and history; Ctrl-C stops the current reply, Ctrl-D exits) or one
 * question with `-p` for scripts. The conversation is kept and re-rendered every turn; the KV
 * cache holds the part already evaluated.
 */
import { createInterface } from 'node:readline';
import { AbortError } from '../generate/errors.js';
import { loadModel, type ChatMessage, type ChatOptions, type Model } from '../model/model.js';
import { TokenizerError } from '../tokenizer/index.js';
import { parseArgs, readTextArg, usage, UsageError } from './args.js';
import { LOAD_FLAGS, LOAD_USAGE, loadOptions, samplingOptions, SAMPLING_FLAGS, SAMPLING_USAGE, warnContextLength } from './options.js';

export const CHAT_USAGE = `chat options:
  -m, --model FILE            GGUF model file (its tokenizer.chat_template is used)
  -p, --prompt TEXT           ask one question, print the answer and exit (otherwise interactive)
      --system TEXT           system message
      --chat-template TEXT    use this Jinja chat template instead of the model's
      --chat-template-file F  read the chat template from a file
      --print-prompt          print each rendered prompt to stderr before the reply
  sampling and reply length (-n: most tokens per reply), as for generate:
${SAMPLING_USAGE}
${LOAD_USAGE}
interactive: Enter sends a line; Ctrl-C stops the reply being written; Ctrl-D (end of input) exits.
`;

function out(s: string): void {
  process.stdout.write(s);
}
function err(s: string): void {
  process.stderr.write(s);
}

interface ChatSession {
  model: Model;
  history: ChatMessage[];
  gen: ChatOptions;
  printPrompt: boolean;
}

/** Streams one reply to stdout and adds it to the history. Returns false when it was interrupted. */
async function reply(s: ChatSession, signal: AbortSignal): Promise<boolean> {
  if (s.printPrompt) err(s.model.applyChatTemplate(s.history, { addGenerationPrompt: true, template: s.gen.template }) + '\n');
  const stream = s.model.chat(s.history, { ...s.gen, signal });
  let text = '';
  let interrupted = false;
  try {
    for await (const chunk of stream) {
      text += chunk.text;
      out(chunk.text);
    }
  } catch (e) {
    if (!(e instanceof AbortError)) throw e;
    interrupted = true;
  }
  // An interrupted reply stays in the conversation as far as it got.
  s.history.push({ role: 'assistant', content: text });
  out('\n');
  return !interrupted;
}

async function interactive(s: ChatSession): Promise<number> {
  const tty = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, historySize: 1000 });
  let controller: AbortController | undefined;
  let quit = false;
  const onInterrupt = (): void => {
    if (controller !== undefined) {
      controller.abort();
      return;
    }
    if (tty) {
      // At the prompt: drop what was typed, as a shell does.
      rl.write(null, { ctrl: true, name: 'u' });
      out('\n(Ctrl-D exits)\n');
      rl.prompt();
    } else {
      // Waiting for piped input: a signal ends the chat.
      quit = true;
      rl.close();
    }
  };
  rl.on('SIGINT', onInterrupt); // Ctrl-C read by readline on a terminal
  process.on('SIGINT', onInterrupt); // a signal when stdin is not a terminal
  rl.setPrompt('> ');
  if (tty) {
    err(`chatting with ${s.model.info.name ?? s.model.info.path}: Ctrl-C stops a reply, Ctrl-D exits\n`);
    rl.prompt();
  }
  try {
    for await (const line of rl) {
      if (line.trim() === '') {
        if (tty) rl.prompt();
        continue;
      }
      s.history.push({ role: 'user', content: line });
      // readline keeps reading while the reply is written (on a terminal it must: Ctrl-C arrives
      // as a key press); lines typed meanwhile wait in the iterator.
      controller = new AbortController();
      try {
        if (!(await reply(s, controller.signal))) err('(interrupted)\n');
      } finally {
        controller = undefined;
      }
      if (tty) rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
  }
  if (tty) out('\n');
  return quit ? 130 : 0;
}

/** The chat template given with --chat-template or --chat-template-file (UsageError if unreadable or both). */
export function readTemplate(values: { 'chat-template'?: string; 'chat-template-file'?: string }): string | undefined {
  if (values['chat-template'] !== undefined && values['chat-template-file'] !== undefined) {
    throw new UsageError('give the chat template with --chat-template or --chat-template-file, not both');
  }
  if (values['chat-template-file'] === undefined) return values['chat-template'];
  return readTextArg(values['chat-template-file'], `chat template file ${values['chat-template-file']}`);
}

/** `tsinfer chat`; returns the exit code. Errors are thrown for main() to report in one line. */
export async function cmdChat(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        prompt: { type: 'string', short: 'p' },
        system: { type: 'string' },
        'chat-template': { type: 'string' },
        'chat-template-file': { type: 'string' },
        'print-prompt': { type: 'boolean' },
        ...SAMPLING_FLAGS,
        ...LOAD_FLAGS,
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError('chat needs a model: -m FILE');
  const template = readTemplate(values);
  const loadOpts = loadOptions(values);
  const sampling = samplingOptions(values);

  const model = await loadModel(values.model, loadOpts);
  try {
    warnContextLength(model);
    if (template === undefined && model.chatTemplate === undefined) {
      throw new TokenizerError('NO_CHAT_TEMPLATE', `${values.model} has no chat template (tokenizer.chat_template); give one with --chat-template-file`);
    }
    const session: ChatSession = {
      model,
      history: values.system !== undefined ? [{ role: 'system', content: values.system }] : [],
      gen: { ...sampling, template },
      printPrompt: values['print-prompt'] === true,
    };
    if (values.prompt !== undefined) {
      session.history.push({ role: 'user', content: values.prompt });
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.on('SIGINT', onSigint);
      try {
        if (!(await reply(session, controller.signal))) {
          err('tsinfer: interrupted\n');
          return 130;
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
      return 0;
    }
    return await interactive(session);
  } finally {
    await model.dispose();
  }
}
