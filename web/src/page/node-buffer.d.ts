// postal-mime's types accept Node's Buffer besides the browser's types; no Buffer exists in
// a browser, and the page never passes one: this names it, without Node's types.
type Buffer = Uint8Array;
