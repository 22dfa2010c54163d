import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '@echo/config';
import { ANALYSIS_SUMMARY_READER } from '@echo/uploads';
import { VisualAnalysis } from './visual-analysis.entity.js';
import { VisualAnalysisService } from './visual-analysis.service.js';
import { AnalysisRunner } from './analysis-runner.js';
import { AnalysisLists } from './analysis-lists.js';
import { AnalysesRepository } from './analyses.repository.js';
import { AnalysisSummaries } from './upload-link/analysis-summaries.js';
import { UploadLifecycleListener } from './upload-link/upload-lifecycle.listener.js';
import { AnalysisDispatcher } from './queue/analysis-dispatcher.js';
import { BullmqDispatcher } from './queue/bullmq-dispatcher.js';
import { InProcessDispatcher } from './queue/in-process-dispatcher.js';
import { analysisProcessor } from './queue/analysis.processor.js';
import { maintenanceProcessor } from './queue/maintenance.processor.js';
import { EmbeddedMaintenance } from './queue/embedded-maintenance.js';
import { DecoderReport } from './queue/decoder-report.js';
import { SearchBackfill } from './search/search-backfill.js';
import { VisualAnalysisController } from './visual-analysis.controller.js';
import { AdminAnalysisController } from './admin-analysis.controller.js';
import { EventsRedis } from './events/events-redis.js';
import { AnalysisEventBus } from './events/event-bus.js';
import { RedisEventBus } from './events/redis-event-bus.js';
import { MemoryEventBus } from './events/memory-event-bus.js';
import { AnalysisEventsPublisher } from './events/analysis-events.publisher.js';
import { ConnectionSlots } from './events/connection-slots.js';
import { StreamTickets } from './events/stream-tickets.js';
import { AnalysisEventStreams } from './events/event-streams.js';
import { AnalysisEventsController } from './events/analysis-events.controller.js';
import { StreamTicketController } from './events/stream-ticket.controller.js';

/**
 * Image analysis. role 'api': routes and the producer (BullMQ), or — in embedded mode, with no
 * Redis — routes plus the in-process runner. role 'worker': the BullMQ consumers, no routes.
 * Both publish live analysis events (events/); the API also streams them (SSE).
 */
@Module({})
export class VisualAnalysisModule {
  static register(config: AppConfig, role: 'api' | 'worker'): DynamicModule {
    const embedded = !config.redis.queue;
    const providers: Provider[] = [
      VisualAnalysisService,
      AnalysesRepository,
      AnalysisRunner,
      AnalysisLists,
      EventsRedis,
      AnalysisEventsPublisher,
    ];
    // Its side of the Uploads seam (upload-link/): the `analysis` of upload objects, and an upload's life.
    providers.push({ provide: ANALYSIS_SUMMARY_READER, useClass: AnalysisSummaries }, UploadLifecycleListener);
    providers.push({ provide: AnalysisEventBus, useClass: embedded ? MemoryEventBus : RedisEventBus });
    if (role === 'api') providers.push(ConnectionSlots, StreamTickets, AnalysisEventStreams);
    if (embedded)
      providers.push(
        { provide: AnalysisDispatcher, useClass: InProcessDispatcher },
        EmbeddedMaintenance,
        SearchBackfill,
      );
    else providers.push({ provide: AnalysisDispatcher, useClass: BullmqDispatcher });
    if (role === 'worker') {
      if (embedded) throw new Error('The worker app needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
      providers.push(analysisProcessor(config), maintenanceProcessor(config), DecoderReport, SearchBackfill);
    }
    return {
      module: VisualAnalysisModule,
      // Global so that UploadsModule (global, not importing this one) can resolve ANALYSIS_SUMMARY_READER.
      global: true,
      // The scheduler runs EmbeddedMaintenance's timer (one instance however many modules import it).
      imports: [TypeOrmModule.forFeature([VisualAnalysis]), ...(embedded ? [ScheduleModule.forRoot()] : [])],
      controllers:
        role === 'api'
          ? [AnalysisEventsController, VisualAnalysisController, AdminAnalysisController, StreamTicketController]
          : [],
      providers,
      // The event bus also carries data export events (libs/account-data).
      exports: [VisualAnalysisService, ANALYSIS_SUMMARY_READER, AnalysisEventBus],
    };
  }
}
