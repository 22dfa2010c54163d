/** The cache key of a completed analysis' response (results never change once completed). */
export const analysisResultKey = (id: string) => `analysis:${id}`;
