// The saved-object envelope Kibana's export writes, and the migration versions we claim.
// The versions are those a Kibana 9.0 export carries for each type; newer Kibanas migrate them
// forward on import, while a version newer than the running Kibana knows would be refused.

export type SavedObjectType = 'index-pattern' | 'search' | 'lens' | 'dashboard';

export const CORE_MIGRATION_VERSION = '8.8.0';

export const TYPE_MIGRATION_VERSION: Record<SavedObjectType, string> = {
  'index-pattern': '8.0.0',
  search: '10.5.0',
  lens: '8.9.0',
  dashboard: '10.2.0',
};

export interface Reference {
  name: string;
  type: SavedObjectType;
  id: string;
}

export interface SavedObject {
  attributes: Record<string, unknown>;
  coreMigrationVersion: string;
  id: string;
  managed: boolean;
  references: Reference[];
  type: SavedObjectType;
  typeMigrationVersion: string;
}

/** Builds an object with the keys in the order Kibana's export writes them. */
export function savedObject(type: SavedObjectType, id: string, attributes: Record<string, unknown>, references: Reference[]): SavedObject {
  return {
    attributes,
    coreMigrationVersion: CORE_MIGRATION_VERSION,
    id,
    managed: false,
    references,
    type,
    typeMigrationVersion: TYPE_MIGRATION_VERSION[type],
  };
}

/** Kibana stores several attributes as JSON strings (searchSourceJSON, panelsJSON, ...). */
export const json = (v: unknown): string => JSON.stringify(v);
