/** The sequence diagram of one conversation (filled in when the diagram modules land). */
import type { Api } from './api.js';
import type { ConversationKey } from './conversations.js';

export function ConversationDiagram(_props: { api: Api; which: ConversationKey; exchanges: number | undefined }) {
  return null;
}
