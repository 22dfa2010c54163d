import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/** What the analysis saw, on the upload row, for search (every column null until an analysis completes). */
const SEARCH_COLUMNS = [
  // EXIF taken-at, else the upload time: set at intake, replaced when an analysis finds one.
  new TableColumn({ name: 'taken_at', type: 'datetime', precision: 3, isNullable: true }),
  // Lower-cased (case-insensitive exact match on both dialects through the index).
  new TableColumn({ name: 'camera_make', type: 'varchar', length: '64', isNullable: true }),
  new TableColumn({ name: 'camera_model', type: 'varchar', length: '64', isNullable: true }),
  new TableColumn({ name: 'has_gps', type: 'boolean', isNullable: true }),
  new TableColumn({ name: 'orientation', type: 'varchar', length: '9', isNullable: true }),
  new TableColumn({ name: 'format', type: 'varchar', length: '16', isNullable: true }),
  // The dominant colour in CIELAB (D65), for ΔE distance in SQL.
  new TableColumn({ name: 'color_l', type: 'float', isNullable: true }),
  new TableColumn({ name: 'color_a', type: 'float', isNullable: true }),
  new TableColumn({ name: 'color_b', type: 'float', isNullable: true }),
  new TableColumn({ name: 'sharpness', type: 'float', isNullable: true }),
  new TableColumn({ name: 'phash', type: 'varchar', length: '16', isNullable: true }),
  // The display rendition's storage key (the original's own key when the original displays as is).
  new TableColumn({ name: 'preview_key', type: 'varchar', length: '300', isNullable: true }),
];

/** Filter columns a search index carries after its ordering's keyset, so a filtered scan reads the index alone. */
export const SEARCH_INDEX_FILTERS = [
  'format',
  'orientation',
  'has_gps',
  'width',
  'height',
  'sharpness',
  'color_l',
  'color_a',
  'color_b',
  'content_type',
  'camera_make',
  'camera_model',
];

/**
 * Search on uploads (issue 22): the analysis' searchable attributes as columns, and the indexes
 * that serve every filter and ordering of an owner's list from the index alone (InnoDB's limit is
 * 16 columns: owner + the ordering's keyset + the other date + 12 filters). Adding nullable columns
 * and secondary indexes is online on MariaDB/MySQL (no table lock); existing rows are filled by
 * the search backfill in batches afterwards (SearchBackfill), not here.
 */
export class UploadSearch1764600000000 implements MigrationInterface {
  name = 'UploadSearch1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('uploads', SEARCH_COLUMNS);
    await q.createIndices('uploads', [
      new TableIndex({
        name: 'ix_uploads_user_created_search',
        columnNames: ['user_id', 'created_at', 'id', 'taken_at', ...SEARCH_INDEX_FILTERS],
      }),
      new TableIndex({
        name: 'ix_uploads_user_taken_search',
        columnNames: ['user_id', 'taken_at', 'id', 'created_at', ...SEARCH_INDEX_FILTERS],
      }),
      // Similar photos and duplicate groups: the owner's hashes from the index alone.
      new TableIndex({ name: 'ix_uploads_user_phash', columnNames: ['user_id', 'phash', 'id'] }),
      // The admin's all-uploads list by taken-at, and the backfill's "not yet filled" probe (taken_at IS NULL).
      new TableIndex({ name: 'ix_uploads_taken', columnNames: ['taken_at', 'id'] }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const name of [
      'ix_uploads_taken',
      'ix_uploads_user_phash',
      'ix_uploads_user_taken_search',
      'ix_uploads_user_created_search',
    ])
      await q.dropIndex('uploads', name);
    await q.dropColumns('uploads', SEARCH_COLUMNS);
  }
}
