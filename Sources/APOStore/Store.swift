import Foundation
public enum StoreInfo { public static var migrationNames: [String] { EmbeddedMigrations.all.map(\.name) } }
