// Who a message goes to, as WhatsApp names them: a phone number becomes `<digits>@c.us` (national numbers
// such as 0812… take the default country code); a group id `…@g.us` passes as it is.
import { parsePhoneNumberFromString } from 'libphonenumber-js'
import { ValidationError } from '../errors.ts'

const CONTACT_ID = /^(\d{6,15})@c\.us$/
const GROUP_ID = /^\d{6,20}(-\d{6,15})?@g\.us$/
/** Digits with the separators people write: spaces, dashes, dots, parentheses, one leading +. */
const WRITTEN_NUMBER = /^\+?[\d\s().-]{6,32}$/

export class InvalidRecipientError extends ValidationError {
  override readonly code = 'INVALID_NUMBER'
}

const invalid = (what: string, why: string) =>
  new InvalidRecipientError(`${why}: '${what.slice(0, 64)}'`, { details: { recipient: what.slice(0, 64) } })

/**
 * @example
 * toChatId({ number: '0812-3456-7890' }, '62') // '6281234567890@c.us'
 * toChatId({ chatId: '120363012345678901@g.us' }, '62') // as it is
 */
export const toChatId = (
  to: { number?: string | undefined; chatId?: string | undefined },
  defaultCountryCode: string,
): string => {
  if (to.chatId !== undefined) {
    const chatId = to.chatId.trim()
    if (GROUP_ID.test(chatId)) return chatId
    const contact = CONTACT_ID.exec(chatId)
    if (contact?.[1]) return toChatId({ number: `+${contact[1]}` }, defaultCountryCode)
    throw invalid(chatId, 'a chatId is <digits>@c.us or a group id <digits>@g.us')
  }
  const written = (to.number ?? '').trim()
  // A chat id given as the number is taken as a chat id.
  if (written.endsWith('@g.us') || written.endsWith('@c.us'))
    return toChatId({ chatId: written }, defaultCountryCode)
  if (!WRITTEN_NUMBER.test(written)) throw invalid(written, 'not a phone number')
  const digits = written.replace(/\D/g, '')
  // +62…, 62… and 0… all name the same number; a leading 0 is national.
  if (written.startsWith('+')) return chatIdOf(`+${digits}`) ?? invalidNumber(written)
  if (digits.startsWith('0'))
    return chatIdOf(`+${defaultCountryCode}${digits.slice(1)}`) ?? invalidNumber(written)
  // Digits alone: with the country code in front (62812…), or a national number without its 0 (812…).
  const international = chatIdOf(`+${digits}`)
  if (international && digits.startsWith(defaultCountryCode)) return international
  const national = chatIdOf(`+${defaultCountryCode}${digits}`)
  if (international && national && international !== national) {
    // 812-3456-7890 is +62 812… and +81 2345… alike: a guess would send to a stranger abroad.
    throw new InvalidRecipientError(
      `'${written.slice(0, 64)}' could be +${digits} or +${defaultCountryCode} ${digits}: write it with + and its country code, or with its leading 0`,
      {
        details: {
          recipient: written.slice(0, 64),
          readings: [international.replace('@c.us', ''), national.replace('@c.us', '')],
        },
      },
    )
  }
  return international ?? national ?? invalidNumber(written)
}

/** The chat id of a number written in international form, when it is a valid number. */
const chatIdOf = (international: string): string | null => {
  const parsed = parsePhoneNumberFromString(international)
  return parsed?.isValid() ? `${parsed.countryCallingCode}${parsed.nationalNumber}@c.us` : null
}

const invalidNumber = (written: string): never => {
  throw invalid(written, 'not a valid phone number')
}
