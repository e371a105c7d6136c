/**
 * The tool and reasoning fields of a request body, read into the chat pipeline's options
 * (generate/chat.ts, shared with Model.chat and /v1/responses):
 *
 *   tools, tool_choice, parallel_tool_calls   OpenAI's
 *   reasoning_format                          llama-server's: "none" | "auto" | "deepseek"
 *   chat_template_kwargs                      template variables (enable_thinking, …)
 *   reasoning_budget_tokens                   llama-server's per-request budget (-1: the server's
 *     (or thinking_budget_tokens)             --reasoning-budget; 0: no thinking; N: N tokens)
 */
import { planChat, type ChatPlan, type ChatToolOptions, type ReasoningFormat, type ToolChoice, type ToolSpec } from '../generate/chat.js';
import { badRequest } from './errors.js';
import { kind, optBool, optNumber, optObject, optString, type Body } from './params.js';

export { ChatOutput, type ChatDelta } from '../generate/chat.js';

/** Server-wide defaults of the reasoning fields (serve's --reasoning-budget, --reasoning-budget-message). */
export interface ReasoningDefaults {
  reasoningBudget?: number;
  reasoningBudgetMessage?: string;
}

/** The chat pipeline's tool and reasoning options from a chat completions body. */
export function chatToolOptions(body: Body, defaults: ReasoningDefaults = {}): ChatToolOptions {
  const tools = body.tools ?? undefined;
  if (tools !== undefined && !Array.isArray(tools)) throw badRequest(`'tools' must be an array, got ${kind(tools)}`);
  const tc = body.tool_choice;
  if (tc !== undefined && tc !== null && typeof tc !== 'string' && (typeof tc !== 'object' || Array.isArray(tc))) {
    throw badRequest(`'tool_choice' must be "auto", "none", "required" or {type: "function", function: {name}}, got ${JSON.stringify(tc)}`);
  }
  let budget = optNumber(body, 'reasoning_budget_tokens', { integer: true, min: -1 }) ?? optNumber(body, 'thinking_budget_tokens', { integer: true, min: -1 });
  if (budget === undefined || budget === -1) budget = defaults.reasoningBudget;
  return {
    tools: tools as ToolSpec[] | undefined,
    toolChoice: (tc ?? undefined) as ToolChoice | undefined,
    parallelToolCalls: optBool(body, 'parallel_tool_calls'),
    reasoningFormat: optString(body, 'reasoning_format') as ReasoningFormat | undefined,
    templateVariables: optObject(body, 'chat_template_kwargs'),
    reasoningBudget: budget,
    reasoningBudgetMessage: defaults.reasoningBudgetMessage,
  };
}

/** The resolved plan of a chat completions body (tests and the server). */
export function chatExtras(body: Body, template: string | undefined, defaults?: ReasoningDefaults): ChatPlan {
  try {
    return planChat(chatToolOptions(body, defaults), template);
  } catch (e) {
    throw e instanceof RangeError ? badRequest(e.message) : e;
  }
}
