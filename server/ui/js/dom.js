// Small DOM helpers shared by the UI's modules.

/** An element with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

export const $ = (selector) => document.querySelector(selector);

/** A short message in the notice area; errors stay until the next notice. */
export function notify(text, kind = "info") {
  const notice = $("#notice");
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = !text;
  if (kind === "error") console.error(text);
}

export function formatNumber(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}
