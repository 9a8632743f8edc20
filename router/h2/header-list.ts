/** A decoded header list: names and values alternate (name0, value0, name1, value1, ...). */
export type HeaderList = string[];
