// Saved searches (Discover sessions): a document table with chosen columns.
import { DATA_VIEWS, TIME_FIELD, type DataViewKind, type FieldOf } from './fields.js';
import { json, savedObject, type SavedObject } from './format.js';

export interface SearchSpec<K extends DataViewKind = DataViewKind> {
  id: string;
  title: string;
  description: string;
  dataView: K;
  columns: FieldOf<K>[];
  query?: string;
}

export const SEARCH_INDEX_REF = 'kibanaSavedObjectMeta.searchSourceJSON.index';

export function searchObject(spec: SearchSpec): SavedObject {
  return savedObject(
    'search',
    spec.id,
    {
      title: spec.title,
      description: spec.description,
      columns: spec.columns,
      sort: [[TIME_FIELD, 'desc']],
      grid: {},
      hideChart: false,
      isTextBasedQuery: false,
      timeRestore: false,
      kibanaSavedObjectMeta: {
        searchSourceJSON: json({ query: { query: spec.query ?? '', language: 'kuery' }, filter: [], indexRefName: SEARCH_INDEX_REF }),
      },
    },
    [{ name: SEARCH_INDEX_REF, type: 'index-pattern', id: DATA_VIEWS[spec.dataView].id }],
  );
}
