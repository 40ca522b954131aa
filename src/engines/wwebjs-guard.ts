// whatsapp-web.js runs listeners of its own (page navigations, network responses, its auth wait) whose
// promises nothing awaits. When the browser closes under them (a stop, a reset, a phone that unlinks,
// a page that cannot load) they reject, and Node ends the process on an unhandled rejection. The
// session has already heard what happened through the engine; only these library faults are let pass.

/** The paths of whatsapp-web.js and the puppeteer it drives, as they appear in a stack. */
const LIBRARY_FRAME = /[\\/]node_modules[\\/](?:whatsapp-web\.js|puppeteer|puppeteer-core)[\\/]/

/**
 * Whether an unhandled rejection comes from inside whatsapp-web.js or its puppeteer: an error whose stack
 * runs through them, puppeteer's TargetCloseError, or the bare string whatsapp-web.js rejects its
 * authentication wait with.
 *
 * @example
 * isLibraryRejection('auth timeout') // true
 * isLibraryRejection(new Error('a bug of ours')) // false
 */
export const isLibraryRejection = (reason: unknown): boolean => {
  if (reason === 'auth timeout') return true
  if (!(reason instanceof Error)) return false
  return reason.name === 'TargetCloseError' || LIBRARY_FRAME.test(reason.stack ?? '')
}

let guarded = false

/**
 * Lets whatsapp-web.js's own unhandled rejections pass, each reported; any other still ends the
 * process, as Node would. Installed once, by a gateway that runs the whatsapp-web.js engine.
 *
 * @example
 * guardLibraryRejections((err) => log.warn({ err }, 'whatsapp-web.js failed in the background'))
 */
export const guardLibraryRejections = (report: (reason: unknown) => void): void => {
  if (guarded) return
  guarded = true
  process.on('unhandledRejection', (reason) => {
    if (!isLibraryRejection(reason)) throw reason
    try {
      report(reason)
    } catch {
      // A report that fails is no reason to end the gateway.
    }
  })
}
