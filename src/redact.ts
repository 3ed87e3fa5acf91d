/** Hides a password in a URL (user part or ?password=) before it reaches a log or a message. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@').replace(/([?&]password=)[^&]*/i, '$1***');
}
