// How the simulated WhatsApp treats phone numbers: chat id syntax, the linked account's number, and the
// outcomes chosen by a number's last four digits.
import { createHash } from 'node:crypto'

/** What sending to a number does, by its last four digits. */
export type NumberBehaviour =
  /** `…0000`: not a WhatsApp account. */
  | 'not_registered'
  /** `…0001`: every send times out. */
  | 'always_times_out'
  /** `…0002`: a message's first attempt times out, its later attempts go through. */
  | 'times_out_once'
  | 'sends'

const CHAT_ID = /^(\d+)@c\.us$/
const GROUP_ID = /^\d+(-\d+)?@g\.us$/

/** The digits of a `<digits>@c.us` chat id, or null when the id has another shape. */
export const chatIdDigits = (chatId: string): string | null => CHAT_ID.exec(chatId)?.[1] ?? null

/** Whether the id names a group (`…@g.us`): the simulated phone is in every group it is sent to. */
export const isGroupChat = (chatId: string): boolean => GROUP_ID.test(chatId)

export const numberBehaviour = (digits: string): NumberBehaviour => {
  switch (digits.slice(-4)) {
    case '0000':
      return 'not_registered'
    case '0001':
      return 'always_times_out'
    case '0002':
      return 'times_out_once'
    default:
      return 'sends'
  }
}

/**
 * The number the simulated phone of a session is linked to: digits only, and the same for a session id on
 * every run, so restarts and fresh processes report the same account.
 *
 * @example
 * simulatedPhoneNumber('sales') // '62811' followed by 7 digits, always the same for 'sales'
 */
export const simulatedPhoneNumber = (sessionId: string): string => {
  const hash = createHash('sha256').update(sessionId).digest()
  const suffix = hash.readUInt32BE(0) % 10_000_000
  return '62811' + String(suffix).padStart(7, '0')
}
