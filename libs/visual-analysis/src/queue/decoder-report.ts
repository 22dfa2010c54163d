import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';

/**
 * Logs at worker start which image formats it can decode, so an operator sees what a deployment
 * analyses (and a decoder that fails to load) before the first upload does.
 */
@Injectable()
export class DecoderReport implements OnApplicationBootstrap {
  private readonly logger = new Logger('Analyzer');

  async onApplicationBootstrap(): Promise<void> {
    // Loaded here, not at import: the API's module graph must never pull in sharp or libheif.
    const { decodableFormats } = await import('../analyzer/formats.js');
    try {
      this.logger.log(`decodes ${(await decodableFormats()).summary}`);
    } catch (err) {
      this.logger.error(`HEIC decoder (libheif-js) failed to load: ${(err as Error).message}; HEIC analyses will fail`);
    }
  }
}
