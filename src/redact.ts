// Passwords in URLs never reach a log, a message or a job's output. A password may hold an '@'
// (git and curl read the user part up to the last '@' before the host): the whole of it goes.

/** Hides a password in a URL (user part or ?password=), keeping the user name. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^/\s]*@/, '//$1:***@').replace(/([?&]password=)[^&]*/i, '$1***');
}

/** Hides the user part (name and password) of every URL in a text, such as git's output. */
export function redactUrls(text: string): string {
  return text.replace(/\/\/[^/\s]*@/g, '//***@');
}
